package cache_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/cache"
)

func newCache(t *testing.T, size int) *cache.LRU[string, int] {
	t.Helper()
	c, err := cache.New[string, int](size, nil)
	if err != nil {
		t.Fatalf("new cache: %v", err)
	}
	return c
}

func TestGetPut(t *testing.T) {
	t.Parallel()
	c := newCache(t, 2)
	_, gen, ok := c.Get("a")
	if ok {
		t.Fatal("Get on empty cache hit")
	}
	if !c.Put("a", 1, gen) {
		t.Fatal("Put refused a fresh value")
	}
	got, _, ok := c.Get("a")
	if !ok || got != 1 {
		t.Errorf("Get(a) = %d, %v; want 1, true", got, ok)
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newCache(t, 2)
	for i, k := range []string{"a", "b"} {
		_, gen, _ := c.Get(k)
		c.Put(k, i, gen)
	}
	c.Get("a") // a is now more recent than b
	_, gen, _ := c.Get("c")
	c.Put("c", 3, gen)
	var present []string
	for _, k := range []string{"a", "b", "c"} {
		if _, _, ok := c.Get(k); ok {
			present = append(present, k)
		}
	}
	if diff := cmp.Diff([]string{"a", "c"}, present); diff != "" {
		t.Errorf("keys present (-want +got):\n%s", diff)
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}

func TestInvalidationRace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// run performs a read that began at gen, with other events between
		// the read's start and its Put, and returns the read's Put result.
		run     func(c *cache.LRU[string, int]) bool
		wantPut bool
		want    int
		wantHit bool
	}{
		{
			name: "invalidated after read began",
			run: func(c *cache.LRU[string, int]) bool {
				_, gen, _ := c.Get("a")
				c.Invalidate("a")
				return c.Put("a", 1, gen)
			},
		},
		{
			name: "invalidated before read began",
			run: func(c *cache.LRU[string, int]) bool {
				c.Invalidate("a")
				_, gen, _ := c.Get("a")
				return c.Put("a", 2, gen)
			},
			wantPut: true, want: 2, wantHit: true,
		},
		{
			name: "newer value stored by a later read",
			run: func(c *cache.LRU[string, int]) bool {
				_, slow, _ := c.Get("a")
				c.Invalidate("a")
				_, fast, _ := c.Get("a")
				c.Put("a", 2, fast)
				return c.Put("a", 1, slow)
			},
			want: 2, wantHit: true,
		},
		{
			name: "invalidation evicted before the put",
			run: func(c *cache.LRU[string, int]) bool {
				_, gen, _ := c.Get("a")
				c.Invalidate("a")
				c.Invalidate("x")
				c.Invalidate("y") // size 2: a's record is evicted
				return c.Put("a", 1, gen)
			},
		},
		{
			name: "purge refuses reads in flight",
			run: func(c *cache.LRU[string, int]) bool {
				_, gen, _ := c.Get("a")
				c.Purge()
				return c.Put("a", 1, gen)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t, 2)
			if got := tt.run(c); got != tt.wantPut {
				t.Errorf("Put = %v, want %v", got, tt.wantPut)
			}
			got, _, hit := c.Get("a")
			if hit != tt.wantHit || got != tt.want {
				t.Errorf("Get(a) = %d, %v; want %d, %v", got, hit, tt.want, tt.wantHit)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := cache.New[string, int](4, reg)
	if err != nil {
		t.Fatalf("new cache: %v", err)
	}
	_, gen, _ := c.Get("a")
	c.Put("a", 1, gen)
	c.Get("a")
	c.Get("a")
	want := `
# HELP storefront_catalogue_cache_hits_total Product reads answered from the in-process cache.
# TYPE storefront_catalogue_cache_hits_total counter
storefront_catalogue_cache_hits_total 2
# HELP storefront_catalogue_cache_misses_total Product reads that went to the database.
# TYPE storefront_catalogue_cache_misses_total counter
storefront_catalogue_cache_misses_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if _, err := cache.New[string, int](4, reg); err == nil {
		t.Error("registering the metrics twice: got nil error")
	}
}
