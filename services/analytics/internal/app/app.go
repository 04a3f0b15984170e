// Package app holds the analytics use cases: recording client events one by
// one or in streamed batches, counting placed and cancelled orders, keeping
// the product dimension, answering product statistics, and keeping the raw
// events' partitions. It declares the storage it needs.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// Events stores raw events together with the counters they add to.
type Events interface {
	// Insert stores e and adds it to the counters in one transaction, or
	// reports that it was stored before.
	Insert(ctx context.Context, e domain.Event) (duplicate bool, err error)
	// InsertBatch stores the events that were not stored before, and adds
	// those to the counters, in one transaction. The events have distinct
	// IDs. It returns how many it stored.
	InsertBatch(ctx context.Context, events []domain.Event) (stored int, err error)
	// FoldCounts moves up to limit of the writes' pending counter deltas
	// into the counters, and returns how many it moved. Reads see pending
	// deltas too, so folding changes no figure.
	FoldCounts(ctx context.Context, limit int) (int, error)
}

// Orders counts placed and cancelled orders, each once, in the caller's
// unit of work.
type Orders interface {
	// Placed records a placement and adds it to the counters unless it was
	// recorded before or its order was cancelled already; counted says
	// whether it was added.
	Placed(ctx context.Context, o domain.Order) (counted bool, err error)
	// Cancelled records a cancellation and takes the order's placement out
	// of the counters, if it was counted; subtracted says so.
	Cancelled(ctx context.Context, o domain.Order) (subtracted bool, err error)
}

// Products keeps the product dimension.
type Products interface {
	// Upsert stores p unless a newer announcement of it is stored.
	Upsert(ctx context.Context, p domain.Product) error
}

// Stats reads the counters.
type Stats interface {
	// Product returns one product's figures over w.
	Product(ctx context.Context, id uuid.UUID, w domain.Window) (domain.ProductStats, error)
	// Top returns up to limit products with a non-zero metric over w,
	// highest first, ties by product id; currency applies to revenue.
	Top(ctx context.Context, m domain.Metric, currency string, w domain.Window, limit int) ([]domain.ProductStats, error)
}

// Partitions creates and drops the raw events' daily partitions.
type Partitions interface {
	// Ensure creates the partitions of every day in [from, to] that is missing.
	Ensure(ctx context.Context, from, to time.Time) (created int, err error)
	// DropBefore drops every partition that holds only times before t.
	DropBefore(ctx context.Context, t time.Time) (dropped int, err error)
}

// Deps are the stores the use cases run on.
type Deps struct {
	Events     Events
	Orders     Orders
	Products   Products
	Stats      Stats
	Partitions Partitions
}

// Config tunes the use cases.
type Config struct {
	// Acceptance bounds how old or how far ahead an event's time may be.
	Acceptance domain.Acceptance
	// PartitionsAhead is how many days of partitions exist ahead of today.
	PartitionsAhead int
	// StreamMaxEvents caps the events one StreamEvents call may send.
	StreamMaxEvents int64
	// StreamBatchSize is how many events are written at once.
	StreamBatchSize int
	// StreamBatchBytes writes a batch early once its events' text (names,
	// user ids, properties) reaches this many bytes, so large events cannot
	// make a batch large in memory.
	StreamBatchBytes int
	// StreamWrites is how many batches of one stream are written at once,
	// each in its own transaction.
	StreamWrites int
}

// Service is the analytics use cases.
type Service struct {
	d      Deps
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
}

// New returns the use cases over d.
func New(d Deps, cfg Config, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StreamBatchSize <= 0 {
		cfg.StreamBatchSize = 1000
	}
	if cfg.StreamWrites <= 0 {
		cfg.StreamWrites = 1
	}
	if cfg.StreamBatchBytes <= 0 {
		cfg.StreamBatchBytes = 4 << 20
	}
	return &Service{d: d, cfg: cfg, logger: logger, now: time.Now}
}
