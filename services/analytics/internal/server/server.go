// Package server is the analytics service's wiring on the service host in
// libs/service: its configuration, its access policy, the store, the use
// cases and their gRPC handler, the consumers of the orders' and the
// catalogue's events, and the job that keeps the raw events' partitions.
package server

import (
	"context"
	"fmt"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
	"time"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/consumer"
	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	"github.com/storefront-go/storefront/libs/grpcserver"
	"github.com/storefront-go/storefront/libs/service"
	pgstore "github.com/storefront-go/storefront/services/analytics/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/analytics/internal/app"
	"github.com/storefront-go/storefront/services/analytics/internal/contract"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
	"github.com/storefront-go/storefront/services/analytics/internal/ports"
)

// Durable consumers; each name is also the key of its inbox rows and the
// last token of its dead-letter subject.
const (
	orderPlacedDurable    = "analytics-order-placed"
	orderCancelledDurable = "analytics-order-cancelled"
	productsDurable       = "analytics-products"
)

// The store satisfies every storage interface of the use cases.
var (
	_ app.Events     = (*pgstore.Store)(nil)
	_ app.Orders     = (*pgstore.Store)(nil)
	_ app.Products   = (*pgstore.Store)(nil)
	_ app.Stats      = (*pgstore.Store)(nil)
	_ app.Partitions = (*pgstore.Store)(nil)
)

// Config is the analytics configuration, read from the environment.
type Config struct {
	service.Config
	// Consumer tunes the consumers of orders' and catalogue's events.
	Consumer consumer.Settings
	// EventsRetention is how long raw events are kept; an event older than
	// this is refused, and the partitions of older days are dropped. The
	// counters are kept.
	EventsRetention time.Duration `env:"EVENTS_RETENTION" envDefault:"720h"`
	// ClockSkew is how far in the future an event's time may be.
	ClockSkew time.Duration `env:"EVENTS_CLOCK_SKEW" envDefault:"5m"`
	// PartitionsAhead is how many days of partitions are created ahead.
	PartitionsAhead int `env:"EVENTS_PARTITIONS_AHEAD" envDefault:"3"`
	// PartitionInterval is how often partitions are created and dropped.
	PartitionInterval time.Duration `env:"EVENTS_PARTITION_INTERVAL" envDefault:"1h"`
	// CountsFoldInterval is how often the ingested events' pending counter
	// deltas are folded into the counters.
	CountsFoldInterval time.Duration `env:"COUNTS_FOLD_INTERVAL" envDefault:"1s"`
	// StreamMaxEvents caps the events of one StreamEvents call.
	StreamMaxEvents int64 `env:"STREAM_MAX_EVENTS" envDefault:"1000000"`
	// StreamBatchSize is how many streamed events are written at once.
	StreamBatchSize int `env:"STREAM_BATCH_SIZE" envDefault:"1000"`
	// StreamBatchBytes writes a batch early once its events hold this much.
	StreamBatchBytes int `env:"STREAM_BATCH_BYTES" envDefault:"4194304"`
	// StreamWrites is how many batches of one stream are written at once.
	StreamWrites int `env:"STREAM_WRITES" envDefault:"2"`
	// StreamFlushInterval writes a stream's partial batch after this long.
	StreamFlushInterval time.Duration `env:"STREAM_FLUSH_INTERVAL" envDefault:"250ms"`
}

// Policy is who may call what: anyone may track an event (browsers do,
// without a token); streaming events in bulk needs a service identity; the
// statistics are for analysts and admins.
func Policy() auth.Policy {
	stats := auth.Rule{Roles: []string{"analyst", "admin"}}
	return auth.Policy{
		analyticsv1.AnalyticsService_TrackEvent_FullMethodName:      {Public: true},
		analyticsv1.AnalyticsService_StreamEvents_FullMethodName:    {Roles: []string{"service", "admin"}},
		analyticsv1.AnalyticsService_GetProductStats_FullMethodName: stats,
		analyticsv1.AnalyticsService_TopProducts_FullMethodName:     stats,
	}
}

// Spec is the analytics service as the host runs it.
func Spec() service.Spec[Config] {
	return service.Spec[Config]{
		Name:    "analytics",
		Migrate: pgstore.Migrate,
		Policy:  Policy(),
		// StreamEvents validates each event itself, so one bad event is
		// rejected alone instead of ending the stream.
		ServerOptions: []grpcserver.Option{
			grpcserver.WithoutRequestValidation(analyticsv1.AnalyticsService_StreamEvents_FullMethodName),
		},
		// analytics' only public method is a write: `analytics check`
		// asks for statistics without a token and wants it refused.
		Probe: service.RefusedWithoutToken(func(ctx context.Context, conn *grpc.ClientConn) error {
			now := time.Now()
			_, err := analyticsv1.NewAnalyticsServiceClient(conn).GetProductStats(ctx, &analyticsv1.GetProductStatsRequest{
				ProductId: uuid.NewString(), StartTime: timestamppb.New(now.Add(-time.Hour)), EndTime: timestamppb.New(now),
			})
			return err
		}),
		Wire: wire,
	}
}

// wire builds analytics on the host.
func wire(ctx context.Context, h *service.Host, cfg Config) error {
	store := pgstore.New(h.Lanes())
	svc := app.New(app.Deps{
		Events: store, Orders: store, Products: store, Stats: store, Partitions: store,
	}, app.Config{
		Acceptance:       domain.Acceptance{Retention: cfg.EventsRetention, Skew: cfg.ClockSkew},
		PartitionsAhead:  cfg.PartitionsAhead,
		StreamMaxEvents:  cfg.StreamMaxEvents,
		StreamBatchSize:  cfg.StreamBatchSize,
		StreamBatchBytes: cfg.StreamBatchBytes,
		StreamWrites:     cfg.StreamWrites,
	}, h.Logger())

	// The partitions every acceptable event needs exist before serving.
	if _, err := svc.MaintainPartitions(ctx); err != nil {
		return err
	}
	h.Every("maintain event partitions", cfg.PartitionInterval, svc.MaintainPartitions)

	h.Often("fold counter deltas", cfg.CountsFoldInterval, svc.FoldCounts)

	handler, err := ports.NewHandler(svc, cfg.StreamFlushInterval)
	if err != nil {
		return fmt.Errorf("analytics handler: %w", err)
	}
	h.Register(&analyticsv1.AnalyticsService_ServiceDesc, handler)

	events := ports.NewEvents(svc)
	for _, c := range []struct {
		cfg     consumer.Config
		handler consumer.Handler
	}{
		{cfg.Consumer.For(contract.OrdersStream, orderPlacedDurable, contract.SubjectOrderPlaced), events.OrderPlaced},
		{cfg.Consumer.For(contract.OrdersStream, orderCancelledDurable, contract.SubjectOrderCancelled), events.OrderCancelled},
		{cfg.Consumer.For(contract.CatalogueStream, productsDurable,
			contract.SubjectProductCreated, contract.SubjectProductUpdated, contract.SubjectProductDeleted), events.Product},
	} {
		if err := h.Consume(c.cfg, c.handler); err != nil {
			return err
		}
	}
	return nil
}
