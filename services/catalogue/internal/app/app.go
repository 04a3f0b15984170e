// Package app holds the catalogue's use cases. It declares the small
// interfaces it needs from storage, the read cache and the watch hub, and
// leaves transactions to the storage adapter.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// ProductReader loads products and their stock.
type ProductReader interface {
	// Product returns one product or a domain.NotFoundError.
	Product(ctx context.Context, id uuid.UUID) (domain.Product, error)
	// ProductsByID returns the products that exist among ids, in any order.
	ProductsByID(ctx context.Context, ids []uuid.UUID) ([]domain.Product, error)
	// Availability returns the stock of the products that exist among ids.
	Availability(ctx context.Context, ids []uuid.UUID) ([]domain.Availability, error)
}

// Browser pages through the catalogue.
type Browser interface {
	// ListPage returns up to limit products after the cursor, in id order.
	ListPage(ctx context.Context, cursor domain.ListCursor, limit int) ([]domain.Product, error)
	// Search returns one page of matches after the cursor (nil for the first).
	Search(ctx context.Context, f domain.SearchFilter, opts domain.SearchOptions, after *domain.SearchCursor, limit int) (domain.SearchPage, error)
	// Suggest returns up to limit distinct product names for a prefix.
	Suggest(ctx context.Context, prefix, categoryID string, limit int) ([]domain.Suggestion, error)
	// Categories returns every category.
	Categories(ctx context.Context) ([]domain.Category, error)
}

// ProductWriter changes products. Each call commits the change together
// with its event.
type ProductWriter interface {
	CreateProduct(ctx context.Context, p domain.Product) (domain.Product, error)
	// UpdateProduct locks the product, lets fn change it and report the
	// changed fields, and stores the result.
	UpdateProduct(ctx context.Context, id uuid.UUID, fn func(*domain.Product) ([]string, error)) (domain.Product, error)
	DeleteProduct(ctx context.Context, id uuid.UUID) error
}

// StockKeeper changes stock. Each call commits the change together with
// its events.
type StockKeeper interface {
	AdjustStock(ctx context.Context, id uuid.UUID, delta int64) (domain.Product, error)
	// Reserve takes items, sorted by product id, or nothing.
	Reserve(ctx context.Context, id uuid.UUID, items []domain.ReservationItem, ttl time.Duration) (domain.Reservation, error)
	// Release ends a reservation and reports whether its stock went back
	// now, rather than before.
	Release(ctx context.Context, id uuid.UUID) (domain.Reservation, bool, error)
}

// ReservationConfirmer hands reservations to the orders placed with them.
type ReservationConfirmer interface {
	// Confirm marks an active reservation confirmed, so that it no longer
	// expires, reinstates one that expired when its stock can be taken
	// again, and returns it as it is afterwards with what changed; one that
	// already ended is returned unchanged. An unknown id gives a
	// domain.NotFoundError.
	Confirm(ctx context.Context, id uuid.UUID) (domain.Reservation, domain.ConfirmResult, error)
}

// ReservationExpirer gives back the stock of reservations past their TTL.
type ReservationExpirer interface {
	// ExpireReservations expires up to limit reservations and returns how many.
	ExpireReservations(ctx context.Context, limit int) (int, error)
}

// ProductCache is the GetProduct read cache.
type ProductCache interface {
	// Get returns the cached product, or the generation at which the miss
	// began, which Put needs so that a slow read never overwrites a newer
	// invalidation.
	Get(id uuid.UUID) (domain.Product, uint64, bool)
	Put(id uuid.UUID, p domain.Product, gen uint64) bool
	Invalidate(id uuid.UUID)
}

// Watcher is one availability stream.
type Watcher interface {
	// Seen records the stock in the snapshot sent first, so that changes
	// older than it are skipped.
	Seen(a domain.Availability)
	// Next blocks for the next change. It fails when the watcher fell
	// behind, the server is shutting down, or ctx is done.
	Next(ctx context.Context) (domain.StockChange, error)
	// Close unregisters the watcher.
	Close()
}

// Watches registers availability watchers.
type Watches interface {
	Watch(ids []uuid.UUID) (Watcher, error)
}

// Deps are the collaborators of a Service.
type Deps struct {
	Products  ProductReader
	Browser   Browser
	Writer    ProductWriter
	Stock     StockKeeper
	Confirmer ReservationConfirmer
	Expirer   ReservationExpirer
	Cache     ProductCache
	Watches   Watches
	// Unbacked counts confirmations that found a placed order's stock gone;
	// nil counts nothing.
	Unbacked ReasonCounter
}

// ReasonCounter counts events by reason, such as a Prometheus counter vector.
type ReasonCounter interface {
	Inc(reason string)
}

// ReasonExpiredNotReinstated is the Unbacked reason of a reservation that
// expired before its order's confirmation and whose stock was gone by then.
const ReasonExpiredNotReinstated = "expired_not_reinstated"

// Config tunes the use cases.
type Config struct {
	// ReservationTTL is how long a reservation holds stock.
	ReservationTTL time.Duration
	// SweepInterval is the pause between expiry sweeps.
	SweepInterval time.Duration
	// SweepBatch is how many reservations one sweep transaction expires.
	SweepBatch int
	// AllowHTTPImages accepts plain http image URLs, for a local image
	// server in development; otherwise only https is.
	AllowHTTPImages bool
}

// Service implements the catalogue's use cases.
type Service struct {
	d      Deps
	cfg    Config
	logger *slog.Logger
}

// New returns a Service. Zero Config fields take defaults: 15m TTL, 30s
// sweep interval and batches of 100.
func New(d Deps, cfg Config, logger *slog.Logger) *Service {
	if cfg.ReservationTTL <= 0 {
		cfg.ReservationTTL = 15 * time.Minute
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 30 * time.Second
	}
	if cfg.SweepBatch <= 0 {
		cfg.SweepBatch = 100
	}
	return &Service{d: d, cfg: cfg, logger: logger}
}
