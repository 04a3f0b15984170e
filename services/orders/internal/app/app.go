// Package app holds the orders use cases: placing an order idempotently
// against catalogue's stock, reading, listing and cancelling orders. It
// declares the small interfaces it needs from storage and from catalogue.
package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// Catalogue is what placing an order needs from the catalogue service.
// Errors are domain errors: *domain.ProductNotFoundError,
// *domain.InsufficientStockError, *domain.CatalogueUnavailableError, or
// anything else for an unexpected failure.
type Catalogue interface {
	// Products returns the products with the given ids, failing with a
	// *domain.ProductNotFoundError that names every unknown one.
	Products(ctx context.Context, ids []uuid.UUID) ([]domain.Product, error)
	// Reserve takes every item from stock or none; a repeated id is a no-op.
	Reserve(ctx context.Context, reservationID uuid.UUID, items []domain.Item) error
	// Release gives a reservation's stock back; releasing twice is a no-op.
	Release(ctx context.Context, reservationID uuid.UUID) error
	// Unavailable returns the error any call would fail with right now
	// without reaching catalogue (its circuit breaker is open), else nil.
	Unavailable() error
}

// ReservationConfirmer hands a placed order's reservation to the order in
// catalogue, so that it no longer expires.
type ReservationConfirmer interface {
	// Confirm confirms the reservation; confirming it again is a no-op. It
	// fails with a *domain.ReservationEndedError when the reservation was
	// released or expired first, a *domain.CatalogueUnavailableError when
	// catalogue could not be reached, or anything else unexpected.
	Confirm(ctx context.Context, reservationID uuid.UUID) error
}

// Counter counts events operators must see, such as a Prometheus counter.
type Counter interface {
	Inc()
}

// Claim asks for an idempotency key on behalf of one attempt to place an order.
type Claim struct {
	CustomerID  string
	Key         string
	RequestHash []byte
	// OrderID is the id the order gets if this attempt wins the key.
	OrderID uuid.UUID
	// Lease is how long the claim holds before another attempt may take a
	// key whose order was never completed (its process died, say).
	Lease time.Duration
	// TTL is how long the key is remembered.
	TTL time.Duration
}

// KeyRecord is the state of a key held by someone else.
type KeyRecord struct {
	RequestHash []byte
	OrderID     uuid.UUID
	// Completed is set once the order is committed; Placed is then the
	// order as PlaceOrder answered it, which a retry gets again.
	Completed bool
	Placed    domain.Order
}

// KeyRef names the claim an order completes.
type KeyRef struct {
	CustomerID string
	Key        string
	OrderID    uuid.UUID
}

// Keys stores idempotency keys.
type Keys interface {
	// Claim takes the key when it is free, expired or its claim went stale,
	// and reports claimed. Otherwise it returns the record that holds it;
	// found is false when that record vanished meanwhile (try again).
	Claim(ctx context.Context, c Claim) (rec KeyRecord, claimed, found bool, err error)
	// Abandon frees a claim that did not produce an order, so a retry with
	// the same key can proceed. It does nothing to a completed key.
	Abandon(ctx context.Context, ref KeyRef) error
	// DeleteExpired removes up to limit expired keys and returns how many.
	DeleteExpired(ctx context.Context, limit int) (int, error)
}

// ErrClaimLost is returned by Orders.Create when the key's claim was taken
// over by another attempt, so this one must not commit.
var ErrClaimLost = errors.New("idempotency key claim lost")

// Orders writes orders. Each method is one transaction that also stores the
// matching event in the outbox.
type Orders interface {
	// Create stores a confirmed order, completes its key's claim with the
	// order as it is now (what a retry of the request gets) and enqueues
	// OrderPlaced. It fails with ErrClaimLost when the claim is no longer
	// held.
	Create(ctx context.Context, o domain.Order, key KeyRef) error
	// Outcome reports whether the order of key was committed, after Create
	// reported an error that leaves it open. It waits for a transaction
	// that is still completing the key, so its answer is certain when it
	// returns no error.
	Outcome(ctx context.Context, key KeyRef) (o domain.Order, committed bool, err error)
	// Update locks an order, applies fn and, when fn reports a change,
	// stores it and enqueues the event of its new status.
	Update(ctx context.Context, id uuid.UUID, fn func(*domain.Order) (bool, error)) (domain.Order, error)
}

// Cursor is the position after which a page of orders starts: orders come
// newest first, ties broken by id.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// Reader reads orders.
type Reader interface {
	// Get returns an order or a domain.OrderNotFound error.
	Get(ctx context.Context, id uuid.UUID) (domain.Order, error)
	// List returns up to limit of a customer's orders (every customer's for
	// AllCustomers) after the cursor (from the newest when nil), newest
	// first.
	List(ctx context.Context, customerID string, after *Cursor, limit int) ([]domain.Order, error)
}

// Config tunes the use cases. Zero fields take the defaults of the env tags.
type Config struct {
	// KeyTTL is how long an idempotency key is remembered.
	KeyTTL time.Duration `env:"IDEMPOTENCY_TTL" envDefault:"24h"`
	// ClaimLease is how long an unfinished attempt holds its key before a
	// retry may take it over. Placing an order is bounded to half of it.
	ClaimLease time.Duration `env:"IDEMPOTENCY_CLAIM_LEASE" envDefault:"1m"`
	// DuplicateWait bounds how long a duplicate request waits for the
	// original to finish before answering ABORTED.
	DuplicateWait time.Duration `env:"IDEMPOTENCY_DUPLICATE_WAIT" envDefault:"10s"`
	// SweepInterval is how often expired keys are deleted.
	SweepInterval time.Duration `env:"IDEMPOTENCY_SWEEP_INTERVAL" envDefault:"10m"`
	// SweepBatch bounds the keys one delete removes.
	SweepBatch int `env:"IDEMPOTENCY_SWEEP_BATCH" envDefault:"1000"`
	// DefaultPageSize applies when ListOrders asks for 0.
	DefaultPageSize int `env:"ORDERS_DEFAULT_PAGE_SIZE" envDefault:"20"`
}

// Defaults of Config, matching its env tags.
const (
	DefaultKeyTTL        = 24 * time.Hour
	DefaultClaimLease    = time.Minute
	DefaultDuplicateWait = 10 * time.Second
	DefaultSweepInterval = 10 * time.Minute
	DefaultSweepBatch    = 1000
	DefaultPageSize      = 20
)

// MaxPageSize caps ListOrders pages, as the contract does.
const MaxPageSize = 100

const (
	// releaseTimeout bounds the clean-up calls of a failed attempt, and the
	// confirmation of a committed order's reservation, which run even when
	// the caller has gone.
	releaseTimeout = 5 * time.Second
	// storeTimeout bounds storing a placed order. The store runs detached
	// from the caller, so a caller's deadline can never fire in the middle
	// of its COMMIT and leave the outcome unknown.
	storeTimeout = 15 * time.Second
	// A duplicate polls for the original's outcome, backing off between
	// these bounds.
	minDuplicatePoll = 10 * time.Millisecond
	maxDuplicatePoll = 200 * time.Millisecond
	// maxSweepBatchesPerTick bounds one sweep; the rest waits for the next.
	maxSweepBatchesPerTick = 100
)

func (c Config) withDefaults() Config {
	if c.KeyTTL <= 0 {
		c.KeyTTL = DefaultKeyTTL
	}
	if c.ClaimLease <= 0 {
		c.ClaimLease = DefaultClaimLease
	}
	if c.DuplicateWait <= 0 {
		c.DuplicateWait = DefaultDuplicateWait
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.SweepBatch <= 0 {
		c.SweepBatch = DefaultSweepBatch
	}
	if c.DefaultPageSize <= 0 || c.DefaultPageSize > MaxPageSize {
		c.DefaultPageSize = DefaultPageSize
	}
	return c
}

// Deps are the adapters the use cases run on.
type Deps struct {
	Catalogue Catalogue
	Confirmer ReservationConfirmer
	Keys      Keys
	Orders    Orders
	Reader    Reader
	// Unconfirmed counts placed orders whose reservation had ended before
	// it could be confirmed; nil counts nothing.
	Unconfirmed Counter
}

// Service runs the use cases.
type Service struct {
	d      Deps
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	// flights joins concurrent PlaceOrder duplicates on this replica.
	flights singleflight.Group
}

// New returns the use cases over d.
func New(d Deps, cfg Config, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if d.Unconfirmed == nil {
		d.Unconfirmed = noCounter{}
	}
	return &Service{d: d, cfg: cfg.withDefaults(), logger: logger, now: time.Now}
}

// noCounter is the Counter of a Service built without one.
type noCounter struct{}

func (noCounter) Inc() {}

// Caller is who makes a request, from their token.
type Caller struct {
	// Subject is the token's subject: the customer id of a customer.
	Subject string
	// Admin callers may read any customer's orders and act for them.
	Admin bool
}

// customerFor returns the customer a request acts for: the caller, unless
// the request names someone else, which only an admin may do.
func (c Caller) customerFor(requested string) (string, error) {
	if c.Subject == "" {
		return "", domain.ErrUnauthenticated
	}
	if requested == "" || requested == c.Subject {
		return c.Subject, nil
	}
	if !c.Admin {
		return "", domain.PermissionDenied("customer_id must be your own")
	}
	return requested, nil
}

// AllCustomers is the customer id that stands for every customer in a
// listing; no caller has it, since a caller's subject is never empty.
const AllCustomers = ""

// listingFor returns whose orders a listing shows: like customerFor, except
// that an admin who names nobody sees every customer's (AllCustomers).
func (c Caller) listingFor(requested string) (string, error) {
	if c.Subject != "" && c.Admin && requested == "" {
		return AllCustomers, nil
	}
	return c.customerFor(requested)
}

// canSee reports whether the caller may see the orders of customerID.
func (c Caller) canSee(customerID string) bool {
	return c.Subject != "" && (c.Admin || c.Subject == customerID)
}
