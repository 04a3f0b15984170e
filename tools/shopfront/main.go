// Command shopfront serves a small demo shop page: plain HTML and
// JavaScript that call catalogue, orders and analytics from the browser
// with the Connect protocol over fetch (unary JSON, and the
// WatchAvailability server stream read from the response body). It is a
// development tool and the e2e suite's browser client.
//
// `make up` starts it on http://127.0.0.1:8080 with a dev customer token
// (deploy/compose/stack.sh) and `make down` stops it. By hand, against the
// local stack:
//
//	STOREFRONT_TOKEN="$(go run ./tools/storefrontctl token --sub shopper --role customer)" go run ./tools/shopfront
//
// The services' CORS_ALLOWED_ORIGINS must list the page's origin
// (deploy/compose/service.env does).
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

//go:embed static
var static embed.FS

// config is what the page reads from /config.json.
type config struct {
	Catalogue string `json:"catalogue"`
	Orders    string `json:"orders"`
	Analytics string `json:"analytics"`
	// Token is sent as a bearer token on the calls that need one.
	Token string `json:"token"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	var cfg config
	flag.StringVar(&cfg.Catalogue, "catalogue", "http://127.0.0.1:8081", "catalogue's HTTP base URL")
	flag.StringVar(&cfg.Orders, "orders", "http://127.0.0.1:8082", "orders' HTTP base URL")
	flag.StringVar(&cfg.Analytics, "analytics", "http://127.0.0.1:8083", "analytics' HTTP base URL")
	flag.StringVar(&cfg.Token, "token", os.Getenv("STOREFRONT_TOKEN"), "customer token for placing orders (default $STOREFRONT_TOKEN)")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(*addr, cfg, logger); err != nil {
		logger.Error("shopfront", slog.Any("error", err))
		os.Exit(1)
	}
}

func run(addr string, cfg config, logger *slog.Logger) error {
	h, err := newHandler(cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("shopfront serving", slog.String("url", "http://"+addr))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// newHandler serves the page, /config.json and /healthz, GET and HEAD only.
func newHandler(cfg config) (http.Handler, error) {
	origins := []string{"'self'"}
	for _, base := range []string{cfg.Catalogue, cfg.Orders, cfg.Analytics} {
		u, err := url.Parse(base)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("service URL %q: want scheme://host[:port]", base)
		}
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + strings.Join(origins, " ")
	body, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("/", http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	}), nil
}
