package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/storefront-go/storefront/libs/auth"
	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

// Distinct origins, so the CSP test sees each service named.
var testConfig = config{
	Catalogue: "http://catalogue.test:8081",
	Orders:    "http://orders.test:8082/",
	Analytics: "https://analytics.test/prefix",
	Token:     "tok",
	User:      "shopper",
}

func serveHandler(t *testing.T, cfg config) *httptest.Server {
	t.Helper()
	h, err := newHandler(cfg)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// reply is a response with its body read and closed.
type reply struct {
	Status     string
	StatusCode int
	Header     http.Header
}

func do(t *testing.T, method, url string) (reply, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return reply{Status: resp.Status, StatusCode: resp.StatusCode, Header: resp.Header}, string(b)
}

func TestPageHasTheElementsTestsUse(t *testing.T) {
	t.Parallel()
	srv := serveHandler(t, testConfig)
	resp, body := do(t, http.MethodGet, srv.URL+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET / Content-Type = %q, want text/html", ct)
	}
	for _, id := range []string{
		"search", "search-button", "products", "detail", "available", "add-to-cart",
		"quantity", "place-order", "order-id", "order-status", "error", "ready",
	} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("page lacks an element with id %q", id)
		}
	}
}

func TestScriptsCallTheContracts(t *testing.T) {
	t.Parallel()
	srv := serveHandler(t, testConfig)
	resp, js := do(t, http.MethodGet, srv.URL+"/app.js")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /app.js: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("app.js Content-Type = %q, want a JavaScript type", ct)
	}
	// The generated names: a renamed RPC fails here, not in a browser.
	for _, method := range []string{
		cataloguev1.CatalogueService_SearchProducts_FullMethodName,
		cataloguev1.CatalogueService_GetProduct_FullMethodName,
		cataloguev1.CatalogueService_WatchAvailability_FullMethodName,
		ordersv1.OrderService_PlaceOrder_FullMethodName,
		analyticsv1.AnalyticsService_TrackEvent_FullMethodName,
	} {
		if !strings.Contains(js, `"`+strings.TrimPrefix(method, "/")+`"`) {
			t.Errorf("app.js does not call %s", method)
		}
	}
	for _, hook := range []string{"window.shopfront = { events: [] }", "dataset.productId", `"stock"`, "dataset.ready", "getReader()"} {
		if !strings.Contains(js, hook) {
			t.Errorf("app.js lacks %s", hook)
		}
	}

	resp, _ = do(t, http.MethodGet, srv.URL+"/style.css")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("style.css Content-Type = %q, want text/css", ct)
	}
}

func TestCSPAllowsOnlyTheServices(t *testing.T) {
	t.Parallel()
	srv := serveHandler(t, testConfig)
	resp, _ := do(t, http.MethodGet, srv.URL+"/")
	directives := map[string][]string{}
	for d := range strings.SplitSeq(resp.Header.Get("Content-Security-Policy"), ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			directives[f[0]] = f[1:]
		}
	}
	want := map[string][]string{
		"default-src": {"'self'"},
		"script-src":  {"'self'"},
		"style-src":   {"'self'"},
		"connect-src": {"'self'", "http://catalogue.test:8081", "http://orders.test:8082", "https://analytics.test"},
	}
	for name, sources := range want {
		got := slices.Sorted(slices.Values(directives[name]))
		if diff := cmp.Diff(slices.Sorted(slices.Values(sources)), got); diff != "" {
			t.Errorf("CSP %s (-want +got):\n%s", name, diff)
		}
	}
}

func TestConfigJSON(t *testing.T) {
	t.Parallel()
	srv := serveHandler(t, testConfig)
	resp, body := do(t, http.MethodGet, srv.URL+"/config.json")
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	want := map[string]string{
		"catalogue": "http://catalogue.test:8081",
		"orders":    "http://orders.test:8082", // the page adds "/package.Service/Method"
		"analytics": "https://analytics.test/prefix",
		"token":     "tok",
		"user":      "shopper",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config.json (-want +got):\n%s", diff)
	}
}

// TestConfigCarriesAMintedToken runs the flags through to /config.json and
// verifies the token the page gets against the signer's JWKS.
func TestConfigCarriesAMintedToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	signer, err := auth.NewSigner("shopfront-test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeKey(t, dir, signer)
	o, err := parseOptions([]string{
		"-signing-key", keyFile, "-issuer", "iss-test", "-audience", "aud-test", "-sub", "alice", "-role", "customer",
		"-catalogue", "http://127.0.0.1:9001", "-orders", "http://127.0.0.1:9002", "-analytics", "http://127.0.0.1:9003",
	}, io.Discard, func(string) string { return "token-from-env" })
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	cfg, err := o.pageConfig()
	if err != nil {
		t.Fatalf("pageConfig: %v", err)
	}
	_, body := do(t, http.MethodGet, serveHandler(t, cfg).URL+"/config.json")
	var got config
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if got.Catalogue != "http://127.0.0.1:9001" || got.Orders != "http://127.0.0.1:9002" || got.Analytics != "http://127.0.0.1:9003" || got.User != "alice" {
		t.Errorf("config.json = %+v", got)
	}
	p := verify(t, filepath.Join(dir, "jwks.json"), "iss-test", "aud-test", got.Token)
	if diff := cmp.Diff(auth.Principal{Subject: "alice", Roles: []string{"customer"}}, p, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("token principal (-want +got):\n%s", diff)
	}
}

// TestDevKeyDefaultsMatchCompose checks the command in main.go's comment:
// the dev key and the default issuer and audience make a token that the
// compose stack's services accept.
func TestDevKeyDefaultsMatchCompose(t *testing.T) {
	t.Parallel()
	compose := filepath.Join("..", "..", "deploy", "compose")
	env := readEnvFile(t, filepath.Join(compose, "service.env"))
	o, err := parseOptions([]string{"-signing-key", filepath.Join(compose, "dev-signing-key.json")}, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	cfg, err := o.pageConfig()
	if err != nil {
		t.Fatalf("pageConfig: %v", err)
	}
	p := verify(t, filepath.Join(compose, "dev-jwks.json"), env["AUTH_ISSUER"], env["AUTH_AUDIENCE"], cfg.Token)
	if p.Subject != "shopper" || !p.HasRole("customer") {
		t.Errorf("default token principal = %+v, want shopper with role customer", p)
	}
	origins := strings.Split(env["CORS_ALLOWED_ORIGINS"], ",")
	if !slices.Contains(origins, "http://"+o.addr) {
		t.Errorf("CORS_ALLOWED_ORIGINS %q lacks the default address http://%s", env["CORS_ALLOWED_ORIGINS"], o.addr)
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	t.Parallel()
	srv := serveHandler(t, testConfig)
	for _, path := range []string{"/", "/config.json", "/healthz"} {
		resp, _ := do(t, http.MethodHead, srv.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD %s: %s, want 200", path, resp.Status)
		}
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
			resp, _ := do(t, method, srv.URL+path)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %s, Allow %q; want 405, GET, HEAD", method, path, resp.Status, resp.Header.Get("Allow"))
			}
		}
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	resp, body := do(t, http.MethodGet, serveHandler(t, testConfig).URL+"/healthz")
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("GET /healthz: %s %q, want 200 ok", resp.Status, body)
	}
}

func TestBadServiceURLs(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"nope", "ftp://x", "http://", "http://x?q=1", "http://u:p@x", "127.0.0.1:8081"} {
		cfg := testConfig
		cfg.Orders = base
		if _, err := newHandler(cfg); err == nil {
			t.Errorf("newHandler accepted service URL %q", base)
		}
	}
}

func writeKey(t *testing.T, dir string, signer *auth.Signer) string {
	t.Helper()
	priv, err := signer.PrivateJWK()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signer.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.json")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile
}

// verify checks token as a service would: libs/auth against a JWKS file.
func verify(t *testing.T, jwksFile, issuer, audience, token string) auth.Principal {
	t.Helper()
	a, err := auth.New(t.Context(), auth.Config{JWKSFile: jwksFile, Issuer: issuer, Audience: audience}, auth.Policy{}, nil)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	t.Cleanup(a.Close)
	p, err := a.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("the page's token does not verify: %v", err)
	}
	return p
}

// readEnvFile reads KEY=VALUE lines, skipping comments.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env
}
