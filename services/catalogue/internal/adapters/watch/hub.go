// Package watch fans stock changes out to the WatchAvailability streams of
// this process. Every replica feeds its hub from the same NATS subject, so a
// change made through any replica reaches watchers on all of them.
//
// Publishing never blocks: each watcher has a bounded buffer, and a watcher
// that lets it fill up is ended with ErrSlowConsumer instead of slowing the
// others down.
package watch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// Reasons a watcher ends other than its caller going away. Their messages
// are for the watcher's caller, who should reconnect.
var (
	// ErrSlowConsumer means the watcher's buffer filled up.
	ErrSlowConsumer = apperr.ResourceExhausted("watcher fell behind the stream of changes; reconnect").WithReason("WATCHER_FELL_BEHIND")
	// ErrClosed means the hub shut down.
	ErrClosed = apperr.Unavailable("", "server is shutting down; reconnect").WithReason("SHUTTING_DOWN")
)

// Hub routes stock changes to the watchers of each product.
type Hub struct {
	buffer int

	mu        sync.Mutex
	closed    bool
	byProduct map[uuid.UUID]map[*Watcher]struct{}

	active  prometheus.Gauge
	dropped prometheus.Counter
}

// NewHub returns a hub giving each watcher a buffer of the given size (at
// least 1). Its metrics are registered on reg when it is not nil.
func NewHub(buffer int, reg prometheus.Registerer) (*Hub, error) {
	h := &Hub{
		buffer:    max(buffer, 1),
		byProduct: make(map[uuid.UUID]map[*Watcher]struct{}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "storefront_catalogue_watchers_active",
			Help: "Open WatchAvailability streams on this replica.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "storefront_catalogue_watchers_dropped_total",
			Help: "Watchers ended because they fell behind.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{h.active, h.dropped} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register watch metrics: %w", err)
			}
		}
	}
	return h, nil
}

// Watch registers a watcher for ids. Register before reading the current
// stock, so that no change falls between the read and the first event.
func (h *Hub) Watch(ids []uuid.UUID) (app.Watcher, error) {
	w := &Watcher{
		hub:  h,
		ids:  ids,
		ch:   make(chan domain.StockChange, h.buffer),
		done: make(chan struct{}),
		last: make(map[uuid.UUID]time.Time, len(ids)),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	for _, id := range ids {
		set := h.byProduct[id]
		if set == nil {
			set = make(map[*Watcher]struct{})
			h.byProduct[id] = set
		}
		set[w] = struct{}{}
	}
	h.active.Inc()
	return w, nil
}

// Publish hands c to every watcher of its product without blocking.
func (h *Hub) Publish(c domain.StockChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.byProduct[c.ProductID] {
		select {
		case w.ch <- c:
		default:
			h.dropped.Inc()
			h.removeLocked(w, ErrSlowConsumer)
		}
	}
}

// Close ends every watcher with ErrClosed and refuses new ones, so streams
// finish before the server's graceful stop waits on them.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, set := range h.byProduct {
		for w := range set {
			h.removeLocked(w, ErrClosed)
		}
	}
}

// removeLocked unregisters w and ends it with err; it is idempotent.
func (h *Hub) removeLocked(w *Watcher, err error) {
	if w.err != nil {
		return
	}
	w.err = err
	close(w.done)
	for _, id := range w.ids {
		if set := h.byProduct[id]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(h.byProduct, id)
			}
		}
	}
	h.active.Dec()
}

// errClosedByCaller ends a watcher its owner closed.
var errClosedByCaller = errors.New("watcher closed")

// Watcher receives the stock changes of a set of products. One goroutine
// reads it with Next; Close may be called from anywhere.
type Watcher struct {
	hub  *Hub
	ids  []uuid.UUID
	ch   chan domain.StockChange
	done chan struct{}
	err  error // guarded by hub.mu; set once, when done is closed

	// last is the newest change time seen per product; only the reading
	// goroutine touches it.
	last map[uuid.UUID]time.Time
}

// Seen records that the caller already has a product's stock as of a.At,
// so older changes still in flight are skipped.
func (w *Watcher) Seen(a domain.Availability) {
	if a.At.After(w.last[a.ProductID]) {
		w.last[a.ProductID] = a.At
	}
}

// Next waits for the next change newer than what the caller has seen. It
// returns ctx's error, ErrSlowConsumer or ErrClosed when the watch ends.
func (w *Watcher) Next(ctx context.Context) (domain.StockChange, error) {
	for {
		select {
		case <-w.done:
			return domain.StockChange{}, w.reason()
		default:
		}
		select {
		case <-ctx.Done():
			return domain.StockChange{}, ctx.Err()
		case <-w.done:
			return domain.StockChange{}, w.reason()
		case c := <-w.ch:
			if !c.At.After(w.last[c.ProductID]) {
				continue // older than what the caller has; events can be reordered
			}
			w.last[c.ProductID] = c.At
			return c, nil
		}
	}
}

func (w *Watcher) reason() error {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	return w.err
}

// Close unregisters the watcher.
func (w *Watcher) Close() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	w.hub.removeLocked(w, errClosedByCaller)
}
