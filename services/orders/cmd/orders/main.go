// Command orders serves orders.v1.OrderService: it places orders
// idempotently against catalogue's stock, and reads, lists and cancels them.
//
// Usage: orders [serve] | orders migrate | orders healthcheck
//
// serve (the default) runs the service, applying migrations first unless
// MIGRATE_ON_START=false. migrate applies the migrations and exits, for a
// deploy step. healthcheck asks the running server's /readyz and exits 0 or
// 1; it is the image's Docker HEALTHCHECK, since a FROM scratch image has no
// shell or curl.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/storefront-go/storefront/libs/config"
	"github.com/storefront-go/storefront/libs/grpcserver"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/telemetry"
	"github.com/storefront-go/storefront/services/orders/internal/server"
)

// version is reported in traces.
const version = "dev"

// Config is the orders configuration, read from the environment.
type Config = server.Config

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

// dispatch runs the subcommand named by args; none means serve. Each
// subcommand loads only the configuration it needs, so healthcheck and
// migrate work without the serving settings.
func dispatch(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		cfg, err := config.Load[Config]()
		if err != nil {
			return err
		}
		return run(ctx, cfg, telemetry.NewLogger(os.Stdout, cfg.LogLevel, "orders"))
	case "migrate":
		cfg, err := config.Load[struct{ Postgres libpg.Config }]()
		if err != nil {
			return err
		}
		return server.Migrate(ctx, cfg.Postgres)
	case "healthcheck":
		cfg, err := config.Load[struct{ Server grpcserver.Config }]()
		if err != nil {
			return err
		}
		return grpcserver.Healthcheck(ctx, cfg.Server.HTTPAddr)
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate or healthcheck)", cmd)
	}
}

func run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	tel, err := telemetry.Setup(ctx, "orders", version)
	if err != nil {
		return err
	}
	defer func() {
		if err := tel.Shutdown(context.WithoutCancel(ctx)); err != nil {
			logger.Warn("flush telemetry", slog.Any("error", err))
		}
	}()
	srv, err := server.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
