package server_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

// floodResult tallies what the flood's calls got.
type floodResult struct {
	mu        sync.Mutex
	codes     map[codes.Code]int
	refusals  []time.Duration // how long each RESOURCE_EXHAUSTED took to come back
	unhandled []error
}

func (r *floodResult) add(err error, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := status.Code(err)
	r.codes[c]++
	switch c {
	case codes.OK, codes.Canceled:
	case codes.ResourceExhausted:
		r.refusals = append(r.refusals, took)
	default:
		r.unhandled = append(r.unhandled, err)
	}
}

// TestOrdersSucceedWhileStrangersFloodCatalogue floods catalogue's public
// streams from loopback, without a token, while customers place orders:
// every order succeeds within its deadline, and the flood's excess is
// refused with RESOURCE_EXHAUSTED at once instead of hanging.
func TestOrdersSucceedWhileStrangersFloodCatalogue(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{catalogueEnv: map[string]string{
		"GRPC_MAX_STREAMS":            "60",
		"GRPC_MAX_STREAMS_PER_METHOD": "25",
		"DATABASE_MAX_CONNS":          "6",
		"DATABASE_PUBLIC_MAX_CONNS":   "2",
	}})
	products := make([]*cataloguev1.Product, 0, 40)
	for range 40 {
		products = append(products, s.createProduct("Flood lamp", 1000, 1000))
	}
	ids := make([]string, 0, len(products))
	for _, p := range products {
		ids = append(ids, p.GetId())
	}

	floodCtx, stopFlood := context.WithCancel(t.Context())
	defer stopFlood()
	conn := testenv.Dial(t, s.cat.GRPCAddr())
	stranger := cataloguev1.NewCatalogueServiceClient(conn)
	res := &floodResult{codes: map[codes.Code]int{}}
	var flood sync.WaitGroup
	// Watchers hold their stream open until the flood ends; list readers
	// list the whole table over and over. Both sets exceed the limits.
	const watchers, listers = 40, 40
	for range watchers {
		flood.Go(func() {
			start := time.Now()
			ws, err := stranger.WatchAvailability(floodCtx, &cataloguev1.WatchAvailabilityRequest{ProductIds: ids[:5]})
			for err == nil {
				_, err = ws.Recv()
			}
			res.add(err, time.Since(start))
		})
	}
	floodUntil := time.Now().Add(40 * time.Second) // bounds the loop in time
	for range listers {
		flood.Go(func() {
			for i := 0; i < 200 && floodCtx.Err() == nil && time.Now().Before(floodUntil); i++ {
				start := time.Now()
				ls, err := stranger.ListProducts(floodCtx, &cataloguev1.ListProductsRequest{PageSize: 10})
				for err == nil {
					_, err = ls.Recv()
				}
				if errors.Is(err, io.EOF) {
					err = nil
				}
				res.add(err, time.Since(start))
				if status.Code(err) == codes.ResourceExhausted {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}

	// Customers place orders through orders, which reserves over catalogue.
	const orders = 30
	var (
		placeWG sync.WaitGroup
		mu      sync.Mutex
		failed  []error
		took    []time.Duration
	)
	work := make(chan int, orders)
	for i := range orders {
		work <- i
	}
	close(work)
	for range 4 {
		placeWG.Go(func() {
			c := s.customer()
			for i := range work {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				start := time.Now()
				_, err := c.place(ctx, newKey(), item(products[i%len(products)], 1))
				cancel()
				mu.Lock()
				took = append(took, time.Since(start))
				if err != nil {
					failed = append(failed, err)
				}
				mu.Unlock()
			}
		})
	}
	placeWG.Wait()
	stopFlood()
	flood.Wait()

	if len(failed) > 0 {
		t.Fatalf("%d of %d orders failed during the flood; first: %v", len(failed), orders, failed[0])
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if len(res.unhandled) > 0 {
		t.Fatalf("flood calls ended with codes other than OK, CANCELLED or RESOURCE_EXHAUSTED: %d, first %v", len(res.unhandled), res.unhandled[0])
	}
	if res.codes[codes.ResourceExhausted] == 0 {
		t.Fatalf("no flood call was refused: %v", res.codes)
	}
	slices.Sort(res.refusals)
	slices.Sort(took)
	t.Logf("orders: %d placed, p50 %v, max %v; flood: %v; refusal p50 %v, max %v",
		orders, took[len(took)/2], took[len(took)-1], res.codes, res.refusals[len(res.refusals)/2], res.refusals[len(res.refusals)-1])
	// A refusal is immediate, not a wait for a slot; the bound only
	// separates "refused" from "hung until the caller gave up".
	if worst := res.refusals[len(res.refusals)-1]; worst > 5*time.Second {
		t.Errorf("slowest refusal took %v: the flood hung instead of being refused", worst)
	}
	if got := s.stockOf(products[0].GetId()); got >= 1000 {
		t.Errorf("stock of the first product = %d, want below 1000 after orders", got)
	}
}
