package service

import (
	"context"
	"log/slog"
	"maps"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/grpcserver"
	"github.com/storefront-go/storefront/libs/outbox"
	libpg "github.com/storefront-go/storefront/libs/postgres"
)

// Config is the part of every service's configuration that the host reads.
// A service's own Config embeds it, so both come from one environment.
type Config struct {
	Server   grpcserver.Config
	Postgres libpg.Config
	NATS     broker.Config
	Auth     auth.Config
	Outbox   outbox.RelayConfig
	LogLevel slog.Level `env:"LOG_LEVEL" envDefault:"INFO"`
	// MigrateOnStart applies migrations before serving; production may run
	// `<service> migrate` as a separate step instead.
	MigrateOnStart bool `env:"MIGRATE_ON_START" envDefault:"true"`
}

// Host returns c. A service's Config that embeds Config gets this method,
// which is how the host finds its part.
func (c Config) Host() Config { return c }

// Configurer is a service's configuration: anything that embeds Config.
type Configurer interface {
	Host() Config
}

// Stream is a JetStream stream a service produces to. Its replicas,
// duplicate window, MaxAge and MaxBytes come from the NATS configuration,
// and it discards new messages when full (see broker.EnsureStream).
type Stream struct {
	Name     string
	Subjects []string
}

// WithInfrastructure returns p plus the methods every replica serves to
// anyone, probes and tools alike: gRPC health checks and reflection.
// Entries in p win.
func WithInfrastructure(p auth.Policy) auth.Policy {
	public := auth.Rule{Public: true}
	out := auth.Policy{
		"/grpc.health.v1.Health/":                    public,
		"/grpc.reflection.v1.ServerReflection/":      public,
		"/grpc.reflection.v1alpha.ServerReflection/": public,
	}
	maps.Copy(out, p)
	return out
}

// Spec is what a service hands the host: its name, what it owns, and the
// wiring of its own parts.
type Spec[C Configurer] struct {
	// Name names the service in logs, traces, metrics and the NATS
	// connection.
	Name string
	// Migrate applies the service's own migrations; the host applies the
	// outbox's and the consumer inbox's. Nil when the service has none.
	Migrate func(ctx context.Context, pool *pgxpool.Pool) error
	// Streams are the streams the service publishes to.
	Streams []Stream
	// Policy says who may call which of the service's methods; anything
	// not in it is denied. Health checks and reflection are public on every
	// replica (see WithInfrastructure) unless the policy lists them.
	Policy auth.Policy
	// ServerOptions tune the service's servers (methods whose handlers
	// validate streamed elements themselves, say).
	ServerOptions []grpcserver.Option
	// Probe is the read `<service> check` makes after the health check: a
	// public read, or, for a service without one, a read that must be
	// refused as unauthenticated, which proves the chain answers. Nil
	// checks health alone.
	Probe func(ctx context.Context, conn *grpc.ClientConn) error
	// Wire builds the service's stores, use cases, handlers, consumers and
	// jobs on h. It runs at the end of New, once the shared parts exist.
	Wire func(ctx context.Context, h *Host, cfg C) error
}
