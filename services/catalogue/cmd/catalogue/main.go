// Command catalogue serves catalogue.v1.CatalogueService.
//
// Usage:
//
//	catalogue [serve]     run the service (migrates first unless MIGRATE_ON_START=false)
//	catalogue migrate     apply the database migrations and exit
//	catalogue healthcheck exit 0 when this host's /readyz answers 200, else 1
//
// Configuration comes from the environment; see server.Config.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/storefront-go/storefront/libs/config"
	"github.com/storefront-go/storefront/libs/grpcserver"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/telemetry"
	"github.com/storefront-go/storefront/services/catalogue/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "catalogue:", err)
		os.Exit(1)
	}
}

// migrateConfig is what `catalogue migrate` needs.
type migrateConfig struct {
	Postgres libpg.Config
	LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"INFO"`
}

func dispatch(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if len(args) > 1 {
		return fmt.Errorf("%s: unexpected arguments %q", cmd, args[1:])
	}
	switch cmd {
	case "serve":
		cfg, err := config.Load[server.Config]()
		if err != nil {
			return err
		}
		return run(ctx, cfg, telemetry.NewLogger(os.Stdout, cfg.LogLevel, "catalogue"))
	case "migrate":
		cfg, err := config.Load[migrateConfig]()
		if err != nil {
			return err
		}
		logger := telemetry.NewLogger(os.Stdout, cfg.LogLevel, "catalogue")
		if err := server.Migrate(ctx, cfg.Postgres); err != nil {
			return err
		}
		logger.InfoContext(ctx, "migrations applied")
		return nil
	case "healthcheck":
		cfg, err := config.Load[grpcserver.Config]()
		if err != nil {
			return err
		}
		return grpcserver.Healthcheck(ctx, cfg.HTTPAddr)
	}
	return errors.New("unknown command " + cmd + " (want serve, migrate or healthcheck)")
}

func run(ctx context.Context, cfg server.Config, logger *slog.Logger) error {
	tel, err := telemetry.Setup(ctx, "catalogue", version)
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
