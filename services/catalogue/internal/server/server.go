// Package server assembles the catalogue service: Postgres pool and
// migrations, NATS stream and event subscription, the outbox relay, the
// consumers of placed and cancelled orders, the reservation sweeper,
// authentication and the gRPC, HTTP and admin ports.
// The command runs it; integration tests run several in one process.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/consumer"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/grpcserver"
	"github.com/storefront-go/storefront/libs/outbox"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/events"
	pgstore "github.com/storefront-go/storefront/services/catalogue/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/cache"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
	"github.com/storefront-go/storefront/services/catalogue/internal/ports"
	"github.com/storefront-go/storefront/services/catalogue/internal/watch"
)

// Timeouts of the shutdown steps that follow the servers' own.
const (
	drainTimeout = 5 * time.Second
	flushTimeout = 10 * time.Second
)

// Durable consumers of the orders' events; each name is also the key of its
// inbox rows and the last token of its dead-letter subject
// (deadletter.catalogue-order-placed). Each event type has its own durable:
// a new one starts from the beginning of the stream, so the first rollout
// confirms the reservations of orders placed before it, and one event type
// failing or dead-lettering never holds up the other.
const (
	orderPlacedDurable    = "catalogue-order-placed"
	orderCancelledDurable = "catalogue-order-cancelled"
)

// The adapters satisfy the interfaces their consumers declare.
var (
	_ app.ProductReader          = (*pgstore.Store)(nil)
	_ app.Browser                = (*pgstore.Store)(nil)
	_ app.ProductWriter          = (*pgstore.Store)(nil)
	_ app.StockKeeper            = (*pgstore.Store)(nil)
	_ app.ReservationConfirmer   = (*pgstore.Store)(nil)
	_ app.ReservationExpirer     = (*pgstore.Store)(nil)
	_ app.ProductCache           = (*cache.LRU[uuid.UUID, domain.Product])(nil)
	_ app.Watches                = (*watch.Hub)(nil)
	_ events.Invalidator         = (*cache.LRU[uuid.UUID, domain.Product])(nil)
	_ events.Publisher           = (*watch.Hub)(nil)
	_ ports.ReservationReleaser  = (*pgstore.Store)(nil)
	_ ports.ReservationConfirmer = (*pgstore.Store)(nil)
)

// Config is the catalogue's configuration, read from the environment.
type Config struct {
	Server   grpcserver.Config
	Postgres libpg.Config
	NATS     broker.Config
	Auth     auth.Config
	Outbox   outbox.RelayConfig
	Consumer ConsumerConfig
	// PlacedConsumer tunes the consumer of placed orders on its own.
	PlacedConsumer PlacedConsumerConfig
	LogLevel       slog.Level `env:"LOG_LEVEL" envDefault:"INFO"`
	// MigrateOnStart applies migrations before serving; production may run
	// `catalogue migrate` as a separate step instead.
	MigrateOnStart bool `env:"MIGRATE_ON_START" envDefault:"true"`
	// ReservationTTL is how long a reservation holds stock unless released.
	ReservationTTL time.Duration `env:"RESERVATION_TTL" envDefault:"15m"`
	// SweepInterval is how often expired reservations are looked for.
	SweepInterval time.Duration `env:"RESERVATION_SWEEP_INTERVAL" envDefault:"30s"`
	// SweepBatch bounds the reservations one sweep transaction expires.
	SweepBatch int `env:"RESERVATION_SWEEP_BATCH" envDefault:"100"`
	// CacheSize bounds the GetProduct cache, in products.
	CacheSize int `env:"PRODUCT_CACHE_SIZE" envDefault:"10000"`
	// WatchBuffer is how many changes a watcher may lag behind before its
	// stream is ended with RESOURCE_EXHAUSTED.
	WatchBuffer int `env:"WATCH_BUFFER" envDefault:"256"`
}

// ConsumerConfig tunes the durable consumer of cancelled orders.
type ConsumerConfig struct {
	// AckWait is how long one attempt may take before it is redelivered.
	AckWait time.Duration `env:"CONSUMER_ACK_WAIT" envDefault:"30s"`
	// MaxDeliver is how many attempts an event gets before it is dead-lettered.
	MaxDeliver int `env:"CONSUMER_MAX_DELIVER" envDefault:"5"`
	// Backoff lists the delays before successive retries; the last repeats.
	Backoff []time.Duration `env:"CONSUMER_BACKOFF" envDefault:"1s,5s,30s"`
}

// PlacedConsumerConfig tunes the durable consumer of placed orders. Orders
// confirm their reservation with ConfirmReservation as they are placed;
// this consumer is the backstop for a confirmation that failed, so it keeps
// retrying a transient failure (a database outage, say) for well over an
// hour rather than dead-lettering it after a minute while the reservation's
// TTL runs out. A malformed event is still dead-lettered at once. The
// fields mean what ConsumerConfig's do.
type PlacedConsumerConfig struct {
	AckWait    time.Duration   `env:"PLACED_CONSUMER_ACK_WAIT" envDefault:"30s"`
	MaxDeliver int             `env:"PLACED_CONSUMER_MAX_DELIVER" envDefault:"20"`
	Backoff    []time.Duration `env:"PLACED_CONSUMER_BACKOFF" envDefault:"1s,5s,30s,1m,5m"`
}

// Policy is who may call what: reads are public, catalogue and stock edits
// need the admin role, reserving, confirming and releasing a service
// identity (or admin).
func Policy() auth.Policy {
	public := auth.Rule{Public: true}
	admin := auth.Rule{Roles: []string{"admin"}}
	service := auth.Rule{Roles: []string{"service", "admin"}}
	return auth.Policy{
		"/grpc.health.v1.Health/":                    public,
		"/grpc.reflection.v1.ServerReflection/":      public,
		"/grpc.reflection.v1alpha.ServerReflection/": public,

		cataloguev1.CatalogueService_GetProduct_FullMethodName:        public,
		cataloguev1.CatalogueService_BatchGetProducts_FullMethodName:  public,
		cataloguev1.CatalogueService_ListProducts_FullMethodName:      public,
		cataloguev1.CatalogueService_SearchProducts_FullMethodName:    public,
		cataloguev1.CatalogueService_ListCategories_FullMethodName:    public,
		cataloguev1.CatalogueService_WatchAvailability_FullMethodName: public,

		cataloguev1.CatalogueService_CreateProduct_FullMethodName: admin,
		cataloguev1.CatalogueService_UpdateProduct_FullMethodName: admin,
		cataloguev1.CatalogueService_DeleteProduct_FullMethodName: admin,
		cataloguev1.CatalogueService_AdjustStock_FullMethodName:   admin,

		cataloguev1.CatalogueService_ReserveStock_FullMethodName:       service,
		cataloguev1.CatalogueService_ConfirmReservation_FullMethodName: service,
		cataloguev1.CatalogueService_ReleaseStock_FullMethodName:       service,
	}
}

// Migrate connects with cfg and applies the catalogue's, the outbox's and
// the consumer inbox's migrations, for the `migrate` command.
func Migrate(ctx context.Context, cfg libpg.Config) error {
	pool, err := libpg.NewPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pgstore.Migrate(ctx, pool)
}

// Server is one catalogue replica.
type Server struct {
	cfg    Config
	logger *slog.Logger

	pool  *pgxpool.Pool
	nc    *nats.Conn
	js    jetstream.JetStream
	authn *auth.Authenticator
	relay *outbox.Relay
	cache *cache.LRU[uuid.UUID, domain.Product]
	hub   *watch.Hub
	app   *app.Service
	grpc  *grpcserver.Server

	// placed confirms the reservations of placed orders, so they outlive
	// their TTL; cancelled releases the reservations of cancelled orders.
	placed    *consumer.Runner
	cancelled *consumer.Runner
}

// New connects to Postgres and NATS, migrates when configured to,
// provisions the CATALOGUE stream and builds the servers. ctx bounds the
// start-up and the JWKS refresh; Run serves.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			s.close()
		}
	}()

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
		natsCfg.Name = "catalogue"
	}
	if s.nc, err = broker.Connect(natsCfg, logger); err != nil {
		return nil, err
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err = broker.EnsureStream(ctx, s.js, natsCfg.StreamSpec(contract.Stream, contract.StreamSubjects)); err != nil {
		return nil, err
	}
	if s.authn, err = auth.New(ctx, cfg.Auth, Policy(), logger); err != nil {
		return nil, err
	}

	reg := grpcserver.NewRegistry()
	if s.relay, err = outbox.NewRelay(s.pool, s.js, cfg.Outbox, logger, reg); err != nil {
		return nil, err
	}
	if s.cache, err = cache.New[uuid.UUID, domain.Product](cfg.CacheSize, reg); err != nil {
		return nil, err
	}
	if s.hub, err = watch.NewHub(cfg.WatchBuffer, reg); err != nil {
		return nil, err
	}
	store := pgstore.New(s.pool)
	s.app = app.New(app.Deps{
		Products:  store,
		Browser:   store,
		Writer:    store,
		Stock:     store,
		Confirmer: store,
		Expirer:   store,
		Cache:     s.cache,
		Watches:   s.hub,
	}, app.Config{
		ReservationTTL: cfg.ReservationTTL,
		SweepInterval:  cfg.SweepInterval,
		SweepBatch:     cfg.SweepBatch,
	}, logger)

	s.grpc, err = grpcserver.New(cfg.Server, logger, reg,
		grpcserver.WithInterceptors(s.authn.UnaryServerInterceptor(), s.authn.StreamServerInterceptor()),
		grpcserver.WithReadinessCheck("postgres", s.pool.Ping),
	)
	if err != nil {
		return nil, err
	}
	cataloguev1.RegisterCatalogueServiceServer(s.grpc.GRPC(), ports.NewHandler(s.app, logger))

	// The orders service owns the ORDERS stream; the consumers wait for it.
	s.placed, err = consumer.New(s.pool, s.js,
		ConsumerConfig(cfg.PlacedConsumer).forSubject(orderPlacedDurable, contract.SubjectOrderPlaced),
		ports.NewOrderPlaced(store, logger).Handle, logger, reg)
	if err != nil {
		return nil, err
	}
	s.cancelled, err = consumer.New(s.pool, s.js,
		cfg.Consumer.forSubject(orderCancelledDurable, contract.SubjectOrderCancelled),
		ports.NewOrderCancelled(store, logger).Handle, logger, reg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// forSubject is the configuration of the durable consumer of one of the
// orders' subjects.
func (c ConsumerConfig) forSubject(durable, subject string) consumer.Config {
	return consumer.Config{
		Stream:         contract.OrdersStream,
		Durable:        durable,
		FilterSubjects: []string{subject},
		AckWait:        c.AckWait,
		MaxDeliver:     c.MaxDeliver,
		Backoff:        c.Backoff,
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
// the servers stop (open watch streams end at once with UNAVAILABLE, other
// calls get the graceful-stop window) while the order consumers stop
// fetching and finish the events in hand; the event subscription drains;
// the outbox, holding what those last events wrote too, is flushed; NATS and
// the pool close. Run releases everything New acquired, so call it exactly
// once. A consumer that stops with an error (the server rejected it, or the
// NATS connection closed for good) shuts the replica down with that error,
// rather than leave it serving without confirming placed orders'
// reservations or releasing cancelled orders' stock.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	sub, err := events.Subscribe(ctx, s.js, contract.Stream, s.cache, s.hub, s.logger)
	if err != nil {
		return err
	}
	// runCtx ends serving: the caller's cancel or a consumer that failed for
	// good. Background work runs on workCtx, which ends only after the gRPC
	// server has stopped, so in-flight RPCs still see their events relayed and
	// consumers drain after GracefulStop, in the documented order.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.relay.Run(workCtx); err != nil {
			s.logger.ErrorContext(workCtx, "outbox relay stopped", slog.Any("error", err))
		}
	})
	consumers := []struct {
		what   string
		runner *consumer.Runner
	}{
		{"placed orders", s.placed},
		{"cancelled orders", s.cancelled},
	}
	// Each consumer writes only its own slot; they are read after wg.Wait.
	consumeErrs := make([]error, len(consumers))
	for i, c := range consumers {
		wg.Go(func() {
			if err := c.runner.Run(workCtx); err != nil {
				consumeErrs[i] = fmt.Errorf("consume %s: %w", c.what, err)
				cancel()
			}
		})
	}
	wg.Go(func() { s.app.RunSweeper(workCtx) })
	// Watch streams end as shutdown starts, so they don't hold up GracefulStop.
	wg.Go(func() {
		<-runCtx.Done()
		s.hub.Close()
	})

	serveErr := s.grpc.Run(runCtx)
	cancel()
	stopWork()
	wg.Wait()

	// The parent context is done or soon will be; the remaining steps have
	// their own clocks.
	stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer stopCancel()
	drainErr := sub.Stop(stopCtx)
	flushCtx, flushCancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer flushCancel()
	flushErr := s.relay.Flush(flushCtx)
	s.logger.InfoContext(flushCtx, "catalogue stopped")
	return errors.Join(append(consumeErrs, serveErr, drainErr, flushErr)...)
}

// close releases what New acquired, in reverse order; nil fields are skipped.
func (s *Server) close() {
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
