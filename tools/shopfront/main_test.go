package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := newHandler(config{Catalogue: "http://127.0.0.1:8081", Orders: "http://127.0.0.1:8082", Analytics: "http://127.0.0.1:8083", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (http.Header, string) {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // a test server
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header, string(b)
}

func TestPageAndConfig(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	hdr, body := get(t, srv.URL+"/")
	for _, id := range []string{`id="search"`, `id="search-button"`, `id="products"`, `id="available"`, `id="place-order"`, `id="order-id"`, `id="error"`} {
		if !strings.Contains(body, id) {
			t.Errorf("page lacks %s", id)
		}
	}
	csp := hdr.Get("Content-Security-Policy")
	for _, o := range []string{"http://127.0.0.1:8081", "http://127.0.0.1:8082", "http://127.0.0.1:8083", "script-src 'self'"} {
		if !strings.Contains(csp, o) {
			t.Errorf("CSP %q lacks %s", csp, o)
		}
	}
	hdr, _ = get(t, srv.URL+"/app.js")
	if ct := hdr.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("app.js content type %q", ct)
	}
	hdr, body = get(t, srv.URL+"/config.json")
	var cfg config
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Orders != "http://127.0.0.1:8082" || cfg.Token != "tok" || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("config %+v, cache %q", cfg, hdr.Get("Cache-Control"))
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader("x")) //nolint:noctx // a test server
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

func TestBadServiceURL(t *testing.T) {
	t.Parallel()
	if _, err := newHandler(config{Catalogue: "nope", Orders: "http://x", Analytics: "http://y"}); err == nil {
		t.Error("a service URL without scheme was accepted")
	}
}
