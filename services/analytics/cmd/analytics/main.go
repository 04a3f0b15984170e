// Command analytics will serve analytics.v1.AnalyticsService. Until the service lands it serves
// gRPC health, reflection, the HTTP probes and metrics on the standard ports.
//
// Usage: analytics [serve] | analytics healthcheck
//
// healthcheck asks the running server's /readyz and exits 0 or 1; it is the
// image's Docker HEALTHCHECK, since a FROM scratch image has no shell or curl.
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
	"github.com/storefront-go/storefront/libs/telemetry"
)

// Config is the analytics configuration, read from the environment.
type Config struct {
	Server   grpcserver.Config
	LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"INFO"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "analytics:", err)
		os.Exit(1)
	}
}

// dispatch runs the subcommand named by args; none means serve.
func dispatch(ctx context.Context, args []string) error {
	cfg, err := config.Load[Config]()
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return run(ctx, cfg, telemetry.NewLogger(os.Stdout, cfg.LogLevel, "analytics"))
	case "healthcheck":
		return grpcserver.Healthcheck(ctx, cfg.Server.HTTPAddr)
	default:
		return fmt.Errorf("unknown command %q (want serve or healthcheck)", cmd)
	}
}

func run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	tel, err := telemetry.Setup(ctx, "analytics", "dev")
	if err != nil {
		return err
	}
	defer func() {
		if err := tel.Shutdown(context.WithoutCancel(ctx)); err != nil {
			logger.Warn("flush telemetry", slog.Any("error", err))
		}
	}()
	srv, err := grpcserver.New(cfg.Server, logger, grpcserver.NewRegistry())
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
