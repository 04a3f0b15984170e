// Package server is the catalogue's wiring: its configuration, its access
// policy, and how its own parts (store, cache, watch hub, use cases,
// handlers, event follower, sweeper and order consumers) sit on the
// service host in libs/service, which owns everything every service starts
// and stops. The command runs it; integration tests run several in one
// process.
package server

import (
	"context"
	"fmt"
	"google.golang.org/grpc"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/consumer"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/cache"
	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/events"
	pgstore "github.com/storefront-go/storefront/services/catalogue/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/watch"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
	"github.com/storefront-go/storefront/services/catalogue/internal/ports"
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
	_ app.ProductReader        = (*pgstore.Store)(nil)
	_ app.Browser              = (*pgstore.Store)(nil)
	_ app.ProductWriter        = (*pgstore.Store)(nil)
	_ app.StockKeeper          = (*pgstore.Store)(nil)
	_ app.ReservationConfirmer = (*pgstore.Store)(nil)
	_ app.ReservationExpirer   = (*pgstore.Store)(nil)
	_ app.ProductCache         = (*cache.LRU[uuid.UUID, domain.Product])(nil)
	_ app.Watches              = (*watch.Hub)(nil)
	_ events.Invalidator       = (*cache.LRU[uuid.UUID, domain.Product])(nil)
	_ events.Publisher         = (*watch.Hub)(nil)
)

// Config is the catalogue's configuration, read from the environment: the
// host's part (servers, Postgres, NATS, auth, outbox) and its own.
type Config struct {
	service.Config
	Consumer ConsumerConfig
	// PlacedConsumer tunes the consumer of placed orders on its own.
	PlacedConsumer PlacedConsumerConfig
	// ReservationTTL is how long a reservation holds stock unless released.
	ReservationTTL time.Duration `env:"RESERVATION_TTL" envDefault:"15m"`
	// SweepInterval is how often expired reservations are looked for.
	SweepInterval time.Duration `env:"RESERVATION_SWEEP_INTERVAL" envDefault:"30s"`
	// SweepBatch bounds the reservations one sweep transaction expires.
	SweepBatch int `env:"RESERVATION_SWEEP_BATCH" envDefault:"100"`
	// CacheSize bounds the GetProduct cache, in products.
	CacheSize int `env:"PRODUCT_CACHE_SIZE" envDefault:"10000"`
	// ImageURLsAllowHTTP accepts plain http image URLs (a local image
	// server in development); by default only https is.
	ImageURLsAllowHTTP bool `env:"IMAGE_URLS_ALLOW_HTTP" envDefault:"false"`
	// WatchBuffer is how many changes a watcher may lag behind before its
	// stream is ended with RESOURCE_EXHAUSTED.
	WatchBuffer int `env:"WATCH_BUFFER" envDefault:"256"`
}

// ConsumerConfig tunes the durable consumer of cancelled orders
// (CONSUMER_*).
type ConsumerConfig = consumer.Settings

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
		cataloguev1.CatalogueService_GetProduct_FullMethodName:        public,
		cataloguev1.CatalogueService_BatchGetProducts_FullMethodName:  public,
		cataloguev1.CatalogueService_ListProducts_FullMethodName:      public,
		cataloguev1.CatalogueService_SearchProducts_FullMethodName:    public,
		cataloguev1.CatalogueService_SuggestProducts_FullMethodName:   public,
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

// Spec is the catalogue as the host runs it.
func Spec() service.Spec[Config] {
	return service.Spec[Config]{
		Name:    "catalogue",
		Migrate: pgstore.Migrate,
		Streams: []service.Stream{{Name: contract.Stream, Subjects: []string{contract.StreamSubjects}}},
		Policy:  Policy(),
		Probe:   probe,
		Wire:    wire,
	}
}

// probe is `catalogue check`'s public read: the category list.
func probe(ctx context.Context, conn *grpc.ClientConn) error {
	_, err := cataloguev1.NewCatalogueServiceClient(conn).ListCategories(ctx, &cataloguev1.ListCategoriesRequest{})
	return err
}

// wire builds the catalogue on the host: the store, the product cache and
// the watch hub, the use cases and their gRPC handler, the follower of the
// catalogue's own events, the reservation sweeper, and the consumers of
// placed and cancelled orders (whose ORDERS stream the orders service
// owns; the consumers wait for it).
func wire(_ context.Context, h *service.Host, cfg Config) error {
	logger := h.Logger()
	lru, err := cache.New[uuid.UUID, domain.Product](cfg.CacheSize, h.Registry())
	if err != nil {
		return err
	}
	hub, err := watch.NewHub(cfg.WatchBuffer, h.Registry())
	if err != nil {
		return err
	}
	unbacked := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: UnbackedOrdersMetric,
		Help: "Confirmations that found a placed order's stock gone (its reservation expired and could not be taken again), by reason; each order may be oversold.",
	}, []string{"reason"})
	if err := h.Registry().Register(unbacked); err != nil {
		return fmt.Errorf("register %s: %w", UnbackedOrdersMetric, err)
	}
	unbacked.WithLabelValues(app.ReasonExpiredNotReinstated) // export 0 from the start
	store := pgstore.New(h.Lanes())
	svc := app.New(app.Deps{
		Products:  store,
		Browser:   store,
		Writer:    store,
		Stock:     store,
		Confirmer: store,
		Expirer:   store,
		Cache:     lru,
		Watches:   hub,
		Unbacked:  reasonCounter{unbacked},
	}, app.Config{
		ReservationTTL:  cfg.ReservationTTL,
		SweepInterval:   cfg.SweepInterval,
		SweepBatch:      cfg.SweepBatch,
		AllowHTTPImages: cfg.ImageURLsAllowHTTP,
	}, logger)

	h.Register(&cataloguev1.CatalogueService_ServiceDesc, ports.NewHandler(svc))
	// Watch streams end as shutdown starts, so they don't hold up GracefulStop.
	h.OnShutdown(hub.Close)
	h.Go("follow catalogue events", events.Follow(h.StreamsReady(), h.JetStream(), contract.Stream, lru, hub, logger))
	h.Every("expire reservations", cfg.SweepInterval, svc.SweepOnce)
	if err := h.Consume(consumer.Settings(cfg.PlacedConsumer).For(contract.OrdersStream, orderPlacedDurable, contract.SubjectOrderPlaced),
		ports.NewOrderPlaced(svc, logger).Handle); err != nil {
		return err
	}
	return h.Consume(cfg.Consumer.For(contract.OrdersStream, orderCancelledDurable, contract.SubjectOrderCancelled),
		ports.NewOrderCancelled(svc, logger).Handle)
}

// UnbackedOrdersMetric counts placed orders found without held stock.
const UnbackedOrdersMetric = "storefront_catalogue_unbacked_orders_total"

// reasonCounter is the app's view of a counter vector labelled by reason.
type reasonCounter struct{ vec *prometheus.CounterVec }

func (c reasonCounter) Inc(reason string) { c.vec.WithLabelValues(reason).Inc() }
