package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

// seedProducts bulk-loads n products with COPY, in category "bulk".
func (e *env) seedProducts(n int) {
	t := e.t
	t.Helper()
	ctx := t.Context()
	if _, err := e.pool().Exec(ctx, `INSERT INTO categories (id, name) VALUES ('bulk', 'Bulk') ON CONFLICT DO NOTHING`); err != nil {
		t.Fatalf("insert category: %v", err)
	}
	copied, err := e.pool().CopyFrom(ctx, pgx.Identifier{"products"},
		[]string{"id", "sku", "name", "description", "category_id", "price_minor", "currency_code", "stock_qty"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			id, err := uuid.NewV7()
			return []any{id, fmt.Sprintf("BULK-%06d", i), fmt.Sprintf("Bulk product %d", i),
				"A product loaded in bulk to test streaming.", "bulk", int64(100 + i), "EUR", int64(i % 50)}, err
		}))
	if err != nil {
		t.Fatalf("copy products: %v", err)
	}
	if copied != int64(n) {
		t.Fatalf("copied %d products, want %d", copied, n)
	}
}

// heapSampler records the peak of HeapInuse until stopped.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func sampleHeap() *heapSampler {
	s := &heapSampler{stop: make(chan struct{})}
	s.done.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapInuse)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	})
	return s
}

func (s *heapSampler) Peak() uint64 {
	close(s.stop)
	s.done.Wait()
	return s.peak
}

// Not parallel: the heap is process-wide, so nothing else may run while it
// is measured.
func TestListProductsStreamsWithFlatMemory(t *testing.T) {
	e := newEnv(t)
	in := e.start(nil)
	const total = 100_000
	e.seedProducts(total)

	// Collect often while measuring, so the peak reflects what is live
	// rather than garbage awaiting the next cycle.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	sampler := sampleHeap()

	stream, err := in.client.ListProducts(t.Context(), &cataloguev1.ListProductsRequest{PageSize: 250})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	received, messages := 0, 0
	var last []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("recv after %d products: %v", received, err)
		}
		messages++
		for _, p := range msg.GetProducts() {
			id := []byte(p.GetId())
			if last != nil && bytes.Compare(id, last) <= 0 {
				t.Fatalf("product %s after %s: not in id order", id, last)
			}
			last = id
			received++
		}
		if (msg.GetNextPageToken() == "") != (received == total) {
			t.Fatalf("message %d (%d products so far) has token %q", messages, received, msg.GetNextPageToken())
		}
	}
	peak := sampler.Peak()

	if received != total {
		t.Errorf("received %d products, want %d", received, total)
	}
	if messages != total/250 {
		t.Errorf("received %d messages, want %d", messages, total/250)
	}
	growth := int64(peak) - int64(base)
	t.Logf("heap in use: base %d MiB, peak %d MiB, growth %d KiB", base>>20, peak>>20, growth>>10)
	const limit = 24 << 20 // generous: measured 5-8 MiB, while a full load of 100k products needs several times this
	if growth > limit {
		t.Errorf("heap grew by %d MiB while streaming, want under %d MiB", growth>>20, limit>>20)
	}
}
