package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/storefront-go/storefront/libs/config"
	"github.com/storefront-go/storefront/libs/grpcserver"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/telemetry"
)

// Usage lists the subcommands every service binary has.
const Usage = `usage: <service> [serve | migrate | healthcheck | check | env | version]

  serve        run the service (the default); migrates first unless MIGRATE_ON_START=false
  migrate      apply the database migrations and exit, for a deploy step
  healthcheck  exit 0 when this host's /readyz answers 200, else 1 (the image's HEALTHCHECK)
  check        call a running service at CHECK_ADDR (a gRPC target): its health must be
               SERVING and one read must pass (the chart's helm test)
  env          print the environment variables the service reads, as JSON
               (name, default, required), for checking a deployment's settings
  version      print the version, commit and build time

Configuration comes from the environment.`

// Main runs the service spec describes as a command: the subcommand named
// by the first argument (none means serve), until SIGINT or SIGTERM. Each
// subcommand loads only the configuration it needs, so healthcheck and
// migrate work without the serving settings. Logs go to stdout as JSON;
// version prints to stdout; an error is printed to stderr. It returns the
// exit code for main to pass to os.Exit:
//
//	func main() { os.Exit(service.Main(server.Spec())) }
func Main[C Configurer](spec Spec[C]) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, spec); err != nil {
		_, _ = fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		return 1
	}
	return 0
}

func run[C Configurer](ctx context.Context, args []string, stdout io.Writer, spec Spec[C]) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if len(args) > 1 {
		return fmt.Errorf("%s: unexpected arguments %q\n%s", cmd, args[1:], Usage)
	}
	switch cmd {
	case "serve":
		cfg, err := config.Load[C]()
		if err != nil {
			return err
		}
		return serve(ctx, spec, cfg, telemetry.NewLogger(stdout, cfg.Host().LogLevel, spec.Name))
	case "migrate":
		cfg, err := config.Load[struct {
			Postgres libpg.Config
			LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"INFO"`
		}]()
		if err != nil {
			return err
		}
		if err := Migrate(ctx, cfg.Postgres, spec.Migrate); err != nil {
			return err
		}
		telemetry.NewLogger(stdout, cfg.LogLevel, spec.Name).InfoContext(ctx, "migrations applied")
		return nil
	case "healthcheck":
		cfg, err := config.Load[struct{ Server grpcserver.Config }]()
		if err != nil {
			return err
		}
		return grpcserver.Healthcheck(ctx, cfg.Server.HTTPAddr)
	case "check":
		cfg, err := config.Load[checkConfig]()
		if err != nil {
			return err
		}
		if cfg.Target.Target == "" {
			return fmt.Errorf("check: CHECK_ADDR is not set\n%s", Usage)
		}
		return check(ctx, spec.Name, cfg.Target, spec.Probe)
	case "env":
		vars, err := config.Vars[C]()
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(vars)
	case "version":
		_, err := fmt.Fprintln(stdout, spec.Name, BuildInfo())
		return err
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(stdout, Usage)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, Usage)
}

// serve runs one replica with telemetry until ctx is done, then flushes the
// telemetry: the last step of the shutdown sequence.
func serve[C Configurer](ctx context.Context, spec Spec[C], cfg C, logger *slog.Logger) (err error) {
	build := BuildInfo()
	tel, err := telemetry.Setup(ctx, spec.Name, build.Version)
	if err != nil {
		return err
	}
	defer func() {
		if ferr := tel.Shutdown(context.WithoutCancel(ctx)); ferr != nil {
			logger.Warn("flush telemetry", slog.Any("error", ferr))
		}
	}()
	logger.InfoContext(ctx, "starting",
		slog.String("version", build.Version), slog.String("commit", build.Commit),
		slog.String("build_time", build.BuildTime), slog.String("go", build.GoVersion))
	h, err := New(ctx, spec, cfg, logger)
	if err != nil {
		return err
	}
	return h.Run(ctx)
}
