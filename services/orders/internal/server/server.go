// Package server assembles the orders service: Postgres pool and
// migrations, the NATS connection and ORDERS stream, the outbox relay, the
// idempotency key sweeper, the catalogue client, authentication and the
// gRPC, HTTP and admin ports. The command runs it; integration tests run it
// in process.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/broker"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/grpcclient"
	"github.com/storefront-go/storefront/libs/grpcserver"
	"github.com/storefront-go/storefront/libs/outbox"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/orders/internal/adapters/catalogue"
	pgstore "github.com/storefront-go/storefront/services/orders/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/contract"
	"github.com/storefront-go/storefront/services/orders/internal/ports"
)

const (
	// flushTimeout bounds publishing what the outbox holds at shutdown.
	flushTimeout = 10 * time.Second
	// streamTimeout bounds one attempt to provision the ORDERS stream.
	streamTimeout = 5 * time.Second
	// maxStreamRetry caps the pause between attempts to provision it.
	maxStreamRetry = 30 * time.Second
	// DefaultCatalogueAddr is the catalogue target when CATALOGUE_ADDR is unset.
	DefaultCatalogueAddr = "dns:///catalogue:50051"
	// UnconfirmedReservationsMetric counts placed orders whose reservation
	// catalogue could no longer confirm: the orders that may be oversold.
	UnconfirmedReservationsMetric = "storefront_orders_unconfirmed_reservations_total"
)

// Config is the orders configuration, read from the environment.
type Config struct {
	Server   grpcserver.Config
	Postgres libpg.Config
	NATS     broker.Config
	Auth     auth.Config
	Outbox   outbox.RelayConfig
	Orders   app.Config
	// Catalogue is the catalogue client: CATALOGUE_ADDR, CATALOGUE_TIMEOUT,
	// CATALOGUE_BREAKER_* and so on (see libs/grpcclient).
	Catalogue grpcclient.Config `envPrefix:"CATALOGUE_"`
	// CatalogueTokenFile holds the JWT (role "service") sent to catalogue;
	// it is re-read when it changes. It wins over CatalogueToken.
	CatalogueTokenFile string `env:"CATALOGUE_TOKEN_FILE"`
	// CatalogueToken is the JWT sent to catalogue when no file is set.
	CatalogueToken string     `env:"CATALOGUE_TOKEN"`
	LogLevel       slog.Level `env:"LOG_LEVEL" envDefault:"INFO"`
	// MigrateOnStart applies migrations before serving; production may run
	// `orders migrate` as a separate step instead.
	MigrateOnStart bool `env:"MIGRATE_ON_START" envDefault:"true"`
}

// Roles that may call the orders RPCs.
const (
	// CustomerRole is held by shoppers, whose token subject is their
	// customer id.
	CustomerRole = "customer"
	// AdminRole may read and act on any customer's orders.
	AdminRole = ports.AdminRole
)

// Policy is who may call what: every orders RPC needs a customer's token,
// or an admin's (the use cases then scope a customer to their own orders);
// other identities, such as another service's, are refused. Health and
// reflection are public.
func Policy() auth.Policy {
	public := auth.Rule{Public: true}
	customer := auth.Rule{Roles: []string{CustomerRole, AdminRole}}
	return auth.Policy{
		"/grpc.health.v1.Health/":                    public,
		"/grpc.reflection.v1.ServerReflection/":      public,
		"/grpc.reflection.v1alpha.ServerReflection/": public,

		ordersv1.OrderService_PlaceOrder_FullMethodName:  customer,
		ordersv1.OrderService_GetOrder_FullMethodName:    customer,
		ordersv1.OrderService_ListOrders_FullMethodName:  customer,
		ordersv1.OrderService_CancelOrder_FullMethodName: customer,
	}
}

// Migrate connects with cfg and applies the orders and outbox migrations,
// for the `migrate` command.
func Migrate(ctx context.Context, cfg libpg.Config) error {
	pool, err := libpg.NewPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pgstore.Migrate(ctx, pool)
}

// Server is one orders replica.
type Server struct {
	cfg    Config
	logger *slog.Logger

	pool     *pgxpool.Pool
	nc       *nats.Conn
	js       jetstream.JetStream
	authn    *auth.Authenticator
	relay    *outbox.Relay
	catConn  *grpc.ClientConn
	app      *app.Service
	grpc     *grpcserver.Server
	streamOK bool
}

// New connects to Postgres and NATS, migrates when configured to,
// provisions the ORDERS stream (or keeps trying in Run if NATS is down) and
// builds the servers. ctx bounds the start-up and the JWKS refresh.
func New(ctx context.Context, cfg Config, logger *slog.Logger, opts ...grpcserver.Option) (_ *Server, err error) {
	s := &Server{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			s.close()
		}
	}()

	creds, err := catalogue.NewCredentials(cfg.CatalogueToken, cfg.CatalogueTokenFile)
	if err != nil {
		return nil, err
	}
	if s.pool, err = libpg.NewPool(ctx, cfg.Postgres); err != nil {
		return nil, err
	}
	if cfg.MigrateOnStart {
		if err = pgstore.Migrate(ctx, s.pool); err != nil {
			return nil, err
		}
	}
	natsCfg := cfg.NATS
	if natsCfg.Name == "" {
		natsCfg.Name = "orders"
	}
	s.cfg.NATS = natsCfg
	if s.nc, err = broker.Connect(natsCfg, logger); err != nil {
		return nil, err
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s.streamOK = s.ensureStream(ctx) == nil
	if s.authn, err = auth.New(ctx, cfg.Auth, Policy(), logger); err != nil {
		return nil, err
	}

	reg := grpcserver.NewRegistry()
	if s.relay, err = outbox.NewRelay(s.pool, s.js, cfg.Outbox, logger, reg); err != nil {
		return nil, err
	}
	catCfg := cfg.Catalogue
	if catCfg.Target == "" {
		catCfg.Target = DefaultCatalogueAddr
	}
	if s.catConn, err = catalogue.Dial(catCfg, creds, logger, reg); err != nil {
		return nil, err
	}
	unconfirmed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: UnconfirmedReservationsMetric,
		Help: "Placed orders whose stock reservation had been released or had expired before catalogue could confirm it; each may be oversold.",
	})
	if err = reg.Register(unconfirmed); err != nil {
		return nil, fmt.Errorf("register %s: %w", UnconfirmedReservationsMetric, err)
	}
	store := pgstore.New(s.pool)
	catClient := catalogue.New(s.catConn)
	s.app = app.New(app.Deps{
		Catalogue:   catClient,
		Confirmer:   catClient,
		Keys:        store,
		Orders:      store,
		Reader:      store,
		Unconfirmed: unconfirmed,
	}, cfg.Orders, logger)

	opts = append([]grpcserver.Option{
		grpcserver.WithInterceptors(s.authn.UnaryServerInterceptor(), s.authn.StreamServerInterceptor()),
		grpcserver.WithReadinessCheck("postgres", s.pool.Ping),
	}, opts...)
	if s.grpc, err = grpcserver.New(cfg.Server, logger, reg, opts...); err != nil {
		return nil, err
	}
	ordersv1.RegisterOrderServiceServer(s.grpc.GRPC(), ports.NewHandler(s.app, logger))
	return s, nil
}

// ensureStream creates or updates the ORDERS stream.
func (s *Server) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	_, err := broker.EnsureStream(ctx, s.js, s.cfg.NATS.StreamSpec(contract.Stream, contract.StreamSubjects))
	if err != nil {
		s.logger.WarnContext(ctx, "provision ORDERS stream; orders are still taken and their events wait in the outbox",
			slog.Any("error", err))
	}
	return err
}

// provisionStream retries ensureStream until it succeeds or ctx is done.
func (s *Server) provisionStream(ctx context.Context) {
	wait := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if s.ensureStream(ctx) == nil {
			s.logger.InfoContext(ctx, "ORDERS stream provisioned")
			return
		}
		wait = min(2*wait, maxStreamRetry)
	}
}

// Listen binds the ports; Run calls it when the caller has not.
func (s *Server) Listen() error { return s.grpc.Listen() }

// GRPCAddr is the bound gRPC address, after Listen.
func (s *Server) GRPCAddr() string { return s.grpc.GRPCAddr() }

// HTTPAddr is the bound HTTP address, after Listen.
func (s *Server) HTTPAddr() string { return s.grpc.HTTPAddr() }

// AdminAddr is the bound admin address, after Listen.
func (s *Server) AdminAddr() string { return s.grpc.AdminAddr() }

// Run serves until ctx is done, then shuts down in order: health fails and
// the servers stop; background work ends; the outbox is flushed; the
// catalogue connection, NATS and the pool close. Run releases everything
// New acquired, so call it exactly once.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.relay.Run(runCtx); err != nil {
			s.logger.ErrorContext(runCtx, "outbox relay stopped", slog.Any("error", err))
		}
	})
	wg.Go(func() { s.app.RunKeySweeper(runCtx) })
	if !s.streamOK {
		wg.Go(func() { s.provisionStream(runCtx) })
	}

	serveErr := s.grpc.Run(runCtx)
	cancel()
	wg.Wait()

	// The parent context is done; the flush has its own clock.
	flushCtx, flushCancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer flushCancel()
	if err := s.relay.Flush(flushCtx); err != nil {
		// Not a failed shutdown: the events wait in the outbox for the next start.
		s.logger.WarnContext(flushCtx, "flush outbox at shutdown", slog.Any("error", err))
	}
	s.logger.InfoContext(flushCtx, "orders stopped")
	return serveErr
}

// close releases what New acquired, in reverse order; nil fields are skipped.
func (s *Server) close() {
	if s.catConn != nil {
		if err := s.catConn.Close(); err != nil {
			s.logger.Warn("close catalogue connection", slog.Any("error", err))
		}
	}
	if s.authn != nil {
		s.authn.Close()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}
