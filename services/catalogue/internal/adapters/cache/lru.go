// Package cache is a bounded LRU read cache for products that is safe
// against the classic invalidation race: a read that started before a write
// committed can never put its stale result back after the write's
// invalidation has been applied.
//
// Every Invalidate advances a generation counter and leaves a tombstone for
// the key. Get hands out the generation at which a miss began; Put refuses
// a value when the key was invalidated after that point, or when a tombstone
// that might have said so has been evicted.
package cache

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// LRU maps keys to values, holding at most a fixed number of entries
// (values and tombstones together). It is safe for concurrent use.
type LRU[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	ll    *list.List // front is most recently used
	items map[K]*list.Element
	gen   uint64
	// evictedGen is the newest invalidation generation of any evicted
	// entry: a read older than it may have missed an invalidation.
	evictedGen uint64

	hits, misses prometheus.Counter
}

type entry[K comparable, V any] struct {
	key      K
	value    V
	hasValue bool
	// invalGen is the generation of the key's last invalidation, kept while
	// the entry lives so that a slow read cannot overwrite a newer value.
	invalGen uint64
}

// Generation identifies the point at which a cache miss began. It is an
// alias, so the app's cache interface can name it as a plain uint64
// without importing this adapter.
type Generation = uint64

// New returns a cache of at most size entries (at least 1). Hit and miss
// counters named storefront_catalogue_cache_{hits,misses}_total are
// registered on reg when it is not nil.
func New[K comparable, V any](size int, reg prometheus.Registerer) (*LRU[K, V], error) {
	c := &LRU[K, V]{
		size:  max(size, 1),
		ll:    list.New(),
		items: make(map[K]*list.Element),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "storefront_catalogue_cache_hits_total",
			Help: "Product reads answered from the in-process cache.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "storefront_catalogue_cache_misses_total",
			Help: "Product reads that went to the database.",
		}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{c.hits, c.misses} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("register cache metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Get returns the cached value for key. On a miss it returns the generation
// to pass to Put once the value has been loaded.
func (c *LRU[K, V]) Get(key K) (V, Generation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		if e := entryOf[K, V](el); e.hasValue {
			c.ll.MoveToFront(el)
			c.hits.Inc()
			return e.value, c.gen, true
		}
	}
	c.misses.Inc()
	var zero V
	return zero, c.gen, false
}

// Put stores value for key unless key may have been invalidated since gen,
// which would make value possibly stale. It reports whether value was stored.
func (c *LRU[K, V]) Put(key K, value V, gen Generation) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := entryOf[K, V](el)
		if e.invalGen > gen {
			return false
		}
		e.value, e.hasValue = value, true
		c.ll.MoveToFront(el)
		return true
	}
	if gen < c.evictedGen {
		return false
	}
	c.items[key] = c.ll.PushFront(&entry[K, V]{key: key, value: value, hasValue: true})
	c.evict()
	return true
}

// Invalidate drops key's value and records that it changed now.
func (c *LRU[K, V]) Invalidate(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if el, ok := c.items[key]; ok {
		e := entryOf[K, V](el)
		var zero V
		e.value, e.hasValue, e.invalGen = zero, false, c.gen
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&entry[K, V]{key: key, invalGen: c.gen})
	c.evict()
}

// Purge drops everything, for when invalidations may have been missed.
func (c *LRU[K, V]) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.evictedGen = c.gen
	c.ll.Init()
	clear(c.items)
}

// Len returns the number of entries, invalidated keys included.
func (c *LRU[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// evict removes least recently used entries beyond the size bound.
func (c *LRU[K, V]) evict() {
	for c.ll.Len() > c.size {
		el := c.ll.Back()
		e := entryOf[K, V](el)
		c.evictedGen = max(c.evictedGen, e.invalGen)
		c.ll.Remove(el)
		delete(c.items, e.key)
	}
}

// entryOf returns the entry el holds; the list holds nothing else.
func entryOf[K comparable, V any](el *list.Element) *entry[K, V] {
	e, _ := el.Value.(*entry[K, V])
	return e
}
