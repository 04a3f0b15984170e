package app_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// memStore is an in-memory app.Keys, app.Orders and app.Reader with the
// same claim rules as the Postgres adapter.
type memStore struct {
	mu     sync.Mutex
	keys   map[[2]string]*memKey
	orders map[uuid.UUID]domain.Order
	events []string // "placed:<id>", "cancelled:<id>"
	// createErr, when set, fails Create as a broken database would.
	createErr error
	// commitThenFail, when set, makes Create commit and then report
	// createErr, as a connection lost during COMMIT would.
	commitThenFail bool
	// getErr, when set, fails Get.
	getErr error
	// claims counts Claim calls.
	claims int
	// claimGate, when set, holds every Claim until it is closed or the
	// call's context ends, as a stalled database would; claimStarted, when
	// set, is told of each.
	claimGate, claimStarted chan struct{}
}

type memKey struct {
	hash         []byte
	orderID      uuid.UUID
	completed    bool
	placed       domain.Order
	claimedUntil time.Time
	expiresAt    time.Time
}

func newMemStore() *memStore {
	return &memStore{keys: map[[2]string]*memKey{}, orders: map[uuid.UUID]domain.Order{}}
}

func (m *memStore) Claim(ctx context.Context, c app.Claim) (app.KeyRecord, bool, bool, error) {
	if m.claimStarted != nil {
		m.claimStarted <- struct{}{}
	}
	if m.claimGate != nil {
		select {
		case <-m.claimGate:
		case <-ctx.Done():
			return app.KeyRecord{}, false, false, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims++
	now := time.Now()
	k := [2]string{c.CustomerID, c.Key}
	cur, ok := m.keys[k]
	if !ok || !cur.expiresAt.After(now) || (!cur.completed && !cur.claimedUntil.After(now)) {
		m.keys[k] = &memKey{hash: bytes.Clone(c.RequestHash), orderID: c.OrderID, claimedUntil: now.Add(c.Lease), expiresAt: now.Add(c.TTL)}
		return app.KeyRecord{}, true, true, nil
	}
	return app.KeyRecord{RequestHash: cur.hash, OrderID: cur.orderID, Completed: cur.completed, Placed: cur.placed}, false, true, nil
}

func (m *memStore) Abandon(_ context.Context, ref app.KeyRef) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{ref.CustomerID, ref.Key}
	if cur, ok := m.keys[k]; ok && cur.orderID == ref.OrderID && !cur.completed {
		delete(m.keys, k)
	}
	return nil
}

func (m *memStore) DeleteExpired(_ context.Context, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, v := range m.keys {
		if n < limit && !v.expiresAt.After(time.Now()) {
			delete(m.keys, k)
			n++
		}
	}
	return n, nil
}

func (m *memStore) Create(_ context.Context, o domain.Order, key app.KeyRef) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.createErr != nil && !m.commitThenFail {
		return m.createErr
	}
	cur, ok := m.keys[[2]string{key.CustomerID, key.Key}]
	if !ok || cur.orderID != key.OrderID || cur.completed {
		return app.ErrClaimLost
	}
	// The key keeps the order as placed: a snapshot, not the live order.
	placed := o
	placed.Lines = slices.Clone(o.Lines)
	cur.completed, cur.placed = true, placed
	m.orders[o.ID] = o
	m.events = append(m.events, "placed:"+o.ID.String())
	return m.createErr
}

func (m *memStore) Update(_ context.Context, id uuid.UUID, fn func(*domain.Order) (bool, error)) (domain.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok {
		return domain.Order{}, domain.OrderNotFound(id)
	}
	o.Lines = slices.Clone(o.Lines)
	changed, err := fn(&o)
	if err != nil {
		return domain.Order{}, err
	}
	if changed {
		m.orders[id] = o
		if o.Status == domain.StatusCancelled {
			m.events = append(m.events, "cancelled:"+id.String())
		}
	}
	return o, nil
}

func (m *memStore) Outcome(_ context.Context, key app.KeyRef) (domain.Order, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getErr != nil {
		return domain.Order{}, false, m.getErr
	}
	cur, ok := m.keys[[2]string{key.CustomerID, key.Key}]
	if !ok || cur.orderID != key.OrderID || !cur.completed {
		return domain.Order{}, false, nil
	}
	return m.orders[key.OrderID], true, nil
}

func (m *memStore) Get(_ context.Context, id uuid.UUID) (domain.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.getErr != nil {
		return domain.Order{}, m.getErr
	}
	o, ok := m.orders[id]
	if !ok {
		return domain.Order{}, domain.OrderNotFound(id)
	}
	return o, nil
}

func (m *memStore) List(_ context.Context, customerID string, after *app.Cursor, limit int) ([]domain.Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.Order
	for _, o := range m.orders {
		if customerID != app.AllCustomers && o.CustomerID != customerID {
			continue
		}
		if after != nil && !olderThan(o, after) {
			continue
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b domain.Order) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
	return out[:min(limit, len(out))], nil
}

// olderThan reports whether o comes after the cursor, newest first.
func olderThan(o domain.Order, c *app.Cursor) bool {
	if !o.CreatedAt.Equal(c.CreatedAt) {
		return o.CreatedAt.Before(c.CreatedAt)
	}
	return bytes.Compare(o.ID[:], c.ID[:]) < 0
}

func (m *memStore) claimCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claims
}

func (m *memStore) eventLog() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// fakeCatalogue keeps stock and reservations in memory.
type fakeCatalogue struct {
	mu           sync.Mutex
	products     map[uuid.UUID]domain.Product
	stock        map[uuid.UUID]int64
	reservations map[uuid.UUID][]domain.Item // active ones
	reserveCalls int
	released     []uuid.UUID
	confirmed    []uuid.UUID // every Confirm call
	// confirmErr, when set, is returned by Confirm, which then confirms nothing.
	confirmErr error
	// reserveErr, when set, is returned by Reserve after it reserved.
	reserveErr error
	// productsErr, when set, fails Products.
	productsErr error
	// reserveGate, when set, holds every Reserve until it is closed or the
	// call's context ends; reserveStarted, when set, is told of each.
	reserveGate    chan struct{}
	reserveStarted chan struct{}
	// unavailable, when set, is what Unavailable reports: an open breaker.
	unavailable error
}

func newFakeCatalogue(products ...domain.Product) *fakeCatalogue {
	f := &fakeCatalogue{products: map[uuid.UUID]domain.Product{}, stock: map[uuid.UUID]int64{}, reservations: map[uuid.UUID][]domain.Item{}}
	for _, p := range products {
		f.products[p.ID] = p
	}
	return f
}

func (f *fakeCatalogue) setStock(id uuid.UUID, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stock[id] = n
}

func (f *fakeCatalogue) stockOf(id uuid.UUID) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stock[id]
}

func (f *fakeCatalogue) Products(_ context.Context, ids []uuid.UUID) ([]domain.Product, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.productsErr != nil {
		return nil, f.productsErr
	}
	var out []domain.Product
	var missing []uuid.UUID
	for _, id := range ids {
		p, ok := f.products[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out = append(out, p)
	}
	if len(missing) > 0 {
		return nil, &domain.ProductNotFoundError{IDs: missing}
	}
	return out, nil
}

func (f *fakeCatalogue) Unavailable() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unavailable
}

func (f *fakeCatalogue) Reserve(ctx context.Context, id uuid.UUID, items []domain.Item) error {
	if f.reserveStarted != nil {
		f.reserveStarted <- struct{}{}
	}
	if f.reserveGate != nil {
		select {
		case <-f.reserveGate:
		case <-ctx.Done():
			return &domain.CatalogueUnavailableError{Unsent: true}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reserveCalls++
	if _, ok := f.reservations[id]; ok {
		return f.reserveErr
	}
	var short []domain.Shortage
	for _, it := range items {
		if f.stock[it.ProductID] < int64(it.Quantity) {
			short = append(short, domain.Shortage{ProductID: it.ProductID})
		}
	}
	if len(short) > 0 {
		return &domain.InsufficientStockError{Shortages: short}
	}
	for _, it := range items {
		f.stock[it.ProductID] -= int64(it.Quantity)
	}
	f.reservations[id] = slices.Clone(items)
	return f.reserveErr
}

func (f *fakeCatalogue) Release(_ context.Context, id uuid.UUID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, id)
	items, ok := f.reservations[id]
	if !ok {
		return errors.New("no such reservation")
	}
	for _, it := range items {
		f.stock[it.ProductID] += int64(it.Quantity)
	}
	delete(f.reservations, id)
	return nil
}

func (f *fakeCatalogue) Confirm(_ context.Context, id uuid.UUID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirmed = append(f.confirmed, id)
	if f.confirmErr != nil {
		return f.confirmErr
	}
	if _, ok := f.reservations[id]; !ok {
		return &domain.ReservationEndedError{OrderID: id, Detail: "no active reservation"}
	}
	return nil
}

func (f *fakeCatalogue) confirmCalls() []uuid.UUID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.confirmed)
}

// counter is an app.Counter.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Inc() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
}

func (c *counter) value() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// logLevels records the level of every log record.
type logLevels struct {
	mu     sync.Mutex
	levels []slog.Level
	msgs   []string
}

func (l *logLevels) Enabled(context.Context, slog.Level) bool { return true }

func (l *logLevels) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.levels = append(l.levels, r.Level)
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *logLevels) WithAttrs([]slog.Attr) slog.Handler { return l }

func (l *logLevels) WithGroup(string) slog.Handler { return l }

// at returns the messages logged at level.
func (l *logLevels) at(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i, lv := range l.levels {
		if lv == level {
			out = append(out, l.msgs[i])
		}
	}
	return out
}

func (f *fakeCatalogue) counts() (reserveCalls, active int, released []uuid.UUID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reserveCalls, len(f.reservations), slices.Clone(f.released)
}

// sortedIDs returns the order ids sorted, for comparisons.
func sortedIDs(os []domain.Order) []uuid.UUID {
	ids := make([]uuid.UUID, len(os))
	for i, o := range os {
		ids[i] = o.ID
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return cmp.Compare(a.String(), b.String()) })
	return ids
}

// mustHash is the request hash PlaceOrder computes for these items.
func mustHash(t *testing.T, key, customer string, items ...domain.Item) []byte {
	t.Helper()
	norm, err := domain.NormalizeItems(items)
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	return domain.RequestHash(key, customer, norm)
}
