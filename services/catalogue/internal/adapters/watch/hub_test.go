package watch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/watch"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

var (
	p1 = uuid.MustParse("0193a3c4-0000-7000-8000-000000000001")
	p2 = uuid.MustParse("0193a3c4-0000-7000-8000-000000000002")
	t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

func change(id uuid.UUID, available int64, at int) domain.StockChange {
	return domain.StockChange{ProductID: id, Available: available, At: t0.Add(time.Duration(at) * time.Second)}
}

func newHub(t *testing.T, buffer int) (*watch.Hub, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := watch.NewHub(buffer, reg)
	if err != nil {
		t.Fatalf("new hub: %v", err)
	}
	return h, reg
}

// next bounds Next so a broken hub fails the test instead of hanging it.
func next(t *testing.T, w app.Watcher) (domain.StockChange, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return w.Next(ctx)
}

func TestRoutesByProduct(t *testing.T) {
	t.Parallel()
	h, reg := newHub(t, 8)
	w1, err := h.Watch([]uuid.UUID{p1})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w1.Close()
	w2, err := h.Watch([]uuid.UUID{p1, p2})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w2.Close()
	if got := activeWatchers(t, reg); got != 2 {
		t.Errorf("active watchers = %v, want 2", got)
	}

	h.Publish(change(p2, 5, 1))
	h.Publish(change(p1, 7, 2))

	got, err := next(t, w1)
	if err != nil {
		t.Fatalf("w1 next: %v", err)
	}
	if diff := cmp.Diff(change(p1, 7, 2), got); diff != "" {
		t.Errorf("w1 change (-want +got):\n%s", diff)
	}
	var got2 []domain.StockChange
	for range 2 {
		c, err := next(t, w2)
		if err != nil {
			t.Fatalf("w2 next: %v", err)
		}
		got2 = append(got2, c)
	}
	if diff := cmp.Diff([]domain.StockChange{change(p2, 5, 1), change(p1, 7, 2)}, got2); diff != "" {
		t.Errorf("w2 changes (-want +got):\n%s", diff)
	}
}

func TestSkipsStaleChanges(t *testing.T) {
	t.Parallel()
	h, _ := newHub(t, 8)
	w, err := h.Watch([]uuid.UUID{p1})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Close()
	w.Seen(domain.Availability{ProductID: p1, Available: 3, At: change(p1, 0, 5).At})
	h.Publish(change(p1, 9, 4)) // older than the snapshot
	h.Publish(change(p1, 8, 5)) // same time as the snapshot
	h.Publish(change(p1, 2, 7))
	h.Publish(change(p1, 1, 6)) // overtaken by the previous one
	h.Publish(change(p1, 0, 8))
	var got []int64
	for range 2 {
		c, err := next(t, w)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		got = append(got, c.Available)
	}
	if diff := cmp.Diff([]int64{2, 0}, got); diff != "" {
		t.Errorf("available values (-want +got):\n%s", diff)
	}
}

func TestSlowWatcherIsDropped(t *testing.T) {
	t.Parallel()
	h, reg := newHub(t, 2)
	slow, err := h.Watch([]uuid.UUID{p1})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer slow.Close()
	fast, err := h.Watch([]uuid.UUID{p1})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer fast.Close()

	for i := range 5 {
		h.Publish(change(p1, int64(i), i+1))
		if _, err := next(t, fast); err != nil {
			t.Fatalf("fast watcher next: %v", err)
		}
	}
	if _, err := next(t, slow); !errors.Is(err, watch.ErrSlowConsumer) {
		t.Errorf("slow watcher next: err = %v, want ErrSlowConsumer", err)
	}
	if got := activeWatchers(t, reg); got != 1 {
		t.Errorf("active watchers = %v, want 1", got)
	}
}

func TestCloseEndsWatchers(t *testing.T) {
	t.Parallel()
	h, reg := newHub(t, 2)
	w, err := h.Watch([]uuid.UUID{p1})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	h.Close()
	if _, err := next(t, w); !errors.Is(err, watch.ErrClosed) {
		t.Errorf("next after Close: err = %v, want ErrClosed", err)
	}
	if _, err := h.Watch([]uuid.UUID{p1}); !errors.Is(err, watch.ErrClosed) {
		t.Errorf("watch after Close: err = %v, want ErrClosed", err)
	}
	w.Close() // idempotent after the hub ended it
	if got := activeWatchers(t, reg); got != 0 {
		t.Errorf("active watchers = %v, want 0", got)
	}
}

func TestNextHonoursContext(t *testing.T) {
	t.Parallel()
	h, _ := newHub(t, 2)
	w, err := h.Watch([]uuid.UUID{p1})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := w.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("next with cancelled context: err = %v, want context.Canceled", err)
	}
}

// activeWatchers reads the active-watchers gauge from reg.
func activeWatchers(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "storefront_catalogue_watchers_active" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("gauge storefront_catalogue_watchers_active not registered")
	return 0
}
