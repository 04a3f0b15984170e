package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/storefront-go/storefront/libs/auth"
)

// options are the command line, with environment defaults.
type options struct {
	addr       string
	catalogue  string
	orders     string
	analytics  string
	token      string
	signingKey string
	issuer     string
	audience   string
	sub        string
	role       string
	ttl        time.Duration
}

// errUsage marks a bad command line, already reported by the flag set.
var errUsage = errors.New("usage")

// parseOptions reads the flags. An explicit -signing-key wins over a token
// that only comes from $STOREFRONT_TOKEN, so an exported admin token does
// not silently become the shopper's; -token and -signing-key together are
// an error.
func parseOptions(args []string, stderr io.Writer, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("shopfront", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen `address`")
	fs.StringVar(&o.catalogue, "catalogue", "http://127.0.0.1:8081", "catalogue's HTTP base `URL`")
	fs.StringVar(&o.orders, "orders", "http://127.0.0.1:8082", "orders' HTTP base `URL`")
	fs.StringVar(&o.analytics, "analytics", "http://127.0.0.1:8083", "analytics' HTTP base `URL`")
	fs.StringVar(&o.token, "token", "", "bearer `token` for placing orders (default $STOREFRONT_TOKEN)")
	fs.StringVar(&o.signingKey, "signing-key", "", "private JWK `file` to mint the token with at start, like deploy/compose/dev-signing-key.json")
	fs.StringVar(&o.issuer, "issuer", "storefront-dev", "iss claim of a minted token")
	fs.StringVar(&o.audience, "audience", "storefront", "aud claim of a minted token")
	fs.StringVar(&o.sub, "sub", "shopper", "subject of a minted token, and the page's analytics user")
	fs.StringVar(&o.role, "role", "customer", "role claim of a minted token")
	fs.DurationVar(&o.ttl, "ttl", 12*time.Hour, "lifetime of a minted token")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		_, _ = fmt.Fprintf(stderr, "shopfront: unexpected argument %q\n", fs.Arg(0))
		return o, errUsage
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	switch {
	case explicit["token"] && explicit["signing-key"]:
		_, _ = fmt.Fprintln(stderr, "shopfront: pass -token or -signing-key, not both")
		return o, errUsage
	case !explicit["token"] && o.signingKey == "":
		o.token = getenv("STOREFRONT_TOKEN")
	}
	if o.signingKey != "" && o.ttl <= 0 {
		_, _ = fmt.Fprintln(stderr, "shopfront: -ttl must be positive")
		return o, errUsage
	}
	return o, nil
}

// pageConfig is what the page gets: the token from -token, or one minted
// now from -signing-key.
func (o options) pageConfig() (config, error) {
	cfg := config{Catalogue: o.catalogue, Orders: o.orders, Analytics: o.analytics, Token: o.token, User: o.sub}
	if o.signingKey != "" {
		tok, err := mintToken(o.signingKey, auth.TokenClaims{
			Subject: o.sub, Roles: []string{o.role}, Issuer: o.issuer, Audience: o.audience, TTL: o.ttl,
		})
		if err != nil {
			return config{}, err
		}
		cfg.Token = tok
	} else if sub := tokenSubject(o.token); sub != "" {
		cfg.User = sub
	}
	return cfg, nil
}

// run serves the page until ctx is done and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) int {
	o, err := parseOptions(args, stderr, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if err := serve(ctx, o, logger); err != nil {
		logger.Error("shopfront stopped", slog.Any("error", err))
		return 1
	}
	return 0
}

// shutdownTimeout bounds the wait for open requests on shutdown. The
// availability streams go to catalogue, not here, so it is short.
const shutdownTimeout = 5 * time.Second

func serve(ctx context.Context, o options, logger *slog.Logger) error {
	cfg, err := o.pageConfig()
	if err != nil {
		return err
	}
	h, err := newHandler(cfg)
	if err != nil {
		return err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	logger.Info("shopfront serving", slog.String("url", "http://"+lis.Addr().String()),
		slog.String("user", cfg.User), slog.Bool("token", cfg.Token != ""))
	if cfg.Token == "" {
		logger.Warn("no token: Place order will be refused; pass -token or -signing-key")
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down: %w", err)
	}
	logger.Info("shopfront stopped")
	return nil
}
