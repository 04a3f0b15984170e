package main

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

//go:embed static
var static embed.FS

// config is what the page reads from /config.json.
type config struct {
	// Catalogue, Orders and Analytics are the services' HTTP base URLs.
	Catalogue string `json:"catalogue"`
	Orders    string `json:"orders"`
	Analytics string `json:"analytics"`
	// Token is sent as a bearer token on PlaceOrder; empty means none.
	Token string `json:"token"`
	// User is the userId of the page's analytics events.
	User string `json:"user"`
}

// newHandler serves the page, /config.json and /healthz, to GET and HEAD
// only. The Content-Security-Policy lets the page's scripts talk to the
// three services and to nothing else.
func newHandler(cfg config) (http.Handler, error) {
	connect := []string{"'self'"}
	for _, base := range []*string{&cfg.Catalogue, &cfg.Orders, &cfg.Analytics} {
		origin, err := originOf(*base)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(connect, origin) {
			connect = append(connect, origin)
		}
		// The page appends "/package.Service/Method".
		*base = strings.TrimRight(*base, "/")
	}
	csp := strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"connect-src " + strings.Join(connect, " "),
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
	body, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	fileServer := http.FileServerFS(files)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The binary is the release: revalidate rather than keep an old page.
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	}), nil
}

// originOf returns scheme://host[:port] of an http(s) base URL, the form
// CSP's connect-src takes.
func originOf(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("service URL %q: %w", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("service URL %q: want http(s)://host[:port][/path]", base)
	}
	return u.Scheme + "://" + u.Host, nil
}
