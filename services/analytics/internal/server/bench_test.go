package server_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	pgstore "github.com/storefront-go/storefront/services/analytics/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/analytics/internal/contract"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// Run with:
//
//	go test ./services/analytics/internal/server -run '^$' -bench . -benchtime 5x
//
// The figures that matter are the ratios each benchmark reports against a
// baseline measured in the same iterations; absolute times on a shared
// machine mean little.

// benchProducts is how many products the events are spread over, evenly:
// BENCH_PRODUCTS overrides the 1000. Fewer products share more counter
// rows. BENCH_BATCH sets the stream's and the copy's batch size (default
// 1000, the service's default), BENCH_WRITES the stream's STREAM_WRITES.
func benchProducts(b *testing.B) int {
	b.Helper()
	return envInt(b, "BENCH_PRODUCTS", 1000)
}

// envInt reads a positive count from the environment variable name, or
// gives fallback when it is unset.
func envInt(b *testing.B, name string, fallback int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return fallback
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// benchPack is how many events the benchmark's client puts in one
// StreamEvents message.
const benchPack = 500

// benchEvents makes n valid events spread evenly over the products ids and the
// last ten minutes: three in five viewed, one in five added to a cart and
// one in five named something stats do not count, each with two
// properties.
func benchEvents(n int, ids []string, now time.Time) []*analyticsv1.Event {
	products := len(ids)
	out := make([]*analyticsv1.Event, n)
	for i := range out {
		name := "product_viewed"
		switch i % 5 {
		case 3:
			name = "add_to_cart"
		case 4:
			name = "search_performed"
		}
		out[i] = &analyticsv1.Event{
			EventId:    uuid.Must(uuid.NewV7()).String(),
			EventName:  name,
			UserId:     fmt.Sprintf("user-%d", i%5000),
			OccurredAt: timestamppb.New(now.Add(-time.Duration(i%600) * time.Second)),
			ProductId:  ids[i%products],
			Properties: map[string]string{"source": "bench", "page": fmt.Sprintf("/p/%d", i%products)},
		}
	}
	return out
}

// copyRows are events as the rows a raw CopyFrom writes into events.
func copyRows(events []*analyticsv1.Event) [][]any {
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{
			pgtype.UUID{Bytes: uuid.MustParse(e.GetEventId()), Valid: true}, e.GetOccurredAt().AsTime(), e.GetEventName(), e.GetUserId(),
			pgtype.UUID{Bytes: uuid.MustParse(e.GetProductId()), Valid: true}, e.GetProperties(),
		}
	}
	return rows
}

// BenchmarkStreamEventsAgainstRawCopy streams events through StreamEvents
// (validation, dedupe, batches, counter deltas, over gRPC on loopback,
// then folding the deltas into the counters) and, in
// the same iteration, copies as many like events straight into the events
// table with pgx CopyFrom, in batches of the stream's batch size and one
// transaction each, as the stream writes them. It also writes a third set
// through the store alone (events and counter deltas, folded, no gRPC and no
// validation), which splits the difference between the two. Each starts
// from the same in-memory events. It reports the three rates and
// stream_vs_copy and store_vs_copy, the ratios to the raw copy, and how
// much of the stream's time went to folding its deltas.
func BenchmarkStreamEventsAgainstRawCopy(b *testing.B) {
	const perIteration = 100_000
	batch := envInt(b, "BENCH_BATCH", 1000)
	e := newEnv(b)
	// The benchmark folds the counter deltas itself, inside the timed
	// stream and store runs, so their cost is counted where it is paid.
	vars := map[string]string{"STREAM_BATCH_SIZE": strconv.Itoa(batch), "COUNTS_FOLD_INTERVAL": "1h"}
	if w := os.Getenv("BENCH_WRITES"); w != "" {
		vars["STREAM_WRITES"] = w
	}
	a := e.start(vars)
	store := pgstore.New(a.host.Lanes())
	db := e.pool()
	ctx := b.Context()
	columns := []string{"event_id", "occurred_at", "event_name", "user_id", "product_id", "properties"}

	// One catalogue for the whole run, as live traffic has: later
	// iterations add to the counter rows of earlier ones.
	products := productIDs(benchProducts(b))
	var streamTime, copyTime, storeTime, foldTime time.Duration
	for range b.N {
		now := time.Now()
		streamed := benchEvents(perIteration, products, now)
		copied := benchEvents(perIteration, products, now)
		stored := benchEvents(perIteration, products, now)

		t0 := time.Now()
		resp, err := e.sendPacked(ctx, a, streamed, benchPack)
		t1 := time.Now()
		foldAll(b, store)
		foldTime += time.Since(t1)
		streamTime += time.Since(t0)
		if err != nil {
			b.Fatalf("stream: %v", err)
		}
		if resp.GetAcceptedCount() != perIteration || resp.GetDuplicateCount() != 0 {
			b.Fatalf("stream accepted %d (%d duplicates), want %d new", resp.GetAcceptedCount(), resp.GetDuplicateCount(), perIteration)
		}

		t0 = time.Now()
		rows := copyRows(copied)
		for i := 0; i < len(rows); i += batch {
			err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, columns, pgx.CopyFromRows(rows[i:min(i+batch, len(rows))]))
				return err
			})
			if err != nil {
				b.Fatalf("copy: %v", err)
			}
		}
		copyTime += time.Since(t0)

		t0 = time.Now()
		for i := 0; i < len(stored); i += batch {
			events := make([]domain.Event, 0, batch)
			for _, ev := range stored[i:min(i+batch, len(stored))] {
				de, err := contract.Event(ev)
				if err != nil {
					b.Fatal(err)
				}
				events = append(events, de)
			}
			if n, err := store.InsertBatch(ctx, events); err != nil || n != len(events) {
				b.Fatalf("store: %d of %d stored: %v", n, len(events), err)
			}
		}
		foldAll(b, store)
		storeTime += time.Since(t0)
	}
	n := float64(b.N * perIteration)
	streamRate, copyRate, storeRate := n/streamTime.Seconds(), n/copyTime.Seconds(), n/storeTime.Seconds()
	b.ReportMetric(streamRate, "stream_events/s")
	b.ReportMetric(storeRate, "store_events/s")
	b.ReportMetric(copyRate, "copy_events/s")
	b.ReportMetric(streamRate/copyRate, "stream_vs_copy")
	b.ReportMetric(storeRate/copyRate, "store_vs_copy")
	b.ReportMetric(foldTime.Seconds()/streamTime.Seconds(), "fold_share_of_stream")
}

// foldAll folds every pending counter delta, as the fold job does.
func foldAll(tb testing.TB, store *pgstore.Store) {
	tb.Helper()
	for {
		n, err := store.FoldCounts(tb.Context(), 50)
		if err != nil {
			tb.Fatalf("fold counter deltas: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// BenchmarkStatsAsRawEventsGrow answers GetProductStats and TopProducts
// (over gRPC, last 24 hours and last 7 days, windows that cut through
// minutes) on a database holding 10,000 raw events and on one holding
// 1,000,000, spread evenly over 1000 products and the last 7 days. The
// statistics read only the counters, so the two sizes should answer in
// about the same time; compare the sub-benchmarks of one run.
// BENCH_STATS_SIZES (comma-separated) replaces the two sizes.
func BenchmarkStatsAsRawEventsGrow(b *testing.B) {
	sizes := []int{10_000, 1_000_000}
	if v := os.Getenv("BENCH_STATS_SIZES"); v != "" {
		sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("BENCH_STATS_SIZES: %q is not a positive count", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		e := newEnv(b)
		a := e.start(nil)
		store := pgstore.New(a.host.Lanes())
		products := loadEvents(b, store, size, 1000)
		// The steady state: the fold job has caught up with the load. Reads
		// scan the deltas still pending, so during a burst they cost more.
		foldAll(b, store)
		if got := e.count(`SELECT count(*) FROM events`); got != int64(size) {
			b.Fatalf("%d raw events loaded, want %d", got, size)
		}
		for _, window := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour} {
			name := fmt.Sprintf("raw=%d/window=%s", size, window)
			b.Run(name+"/GetProductStats", func(b *testing.B) {
				i := 0
				for b.Loop() {
					end := time.Now()
					_, err := a.client.GetProductStats(b.Context(), &analyticsv1.GetProductStatsRequest{
						ProductId: products[i%len(products)].String(),
						StartTime: timestamppb.New(end.Add(-window)), EndTime: timestamppb.New(end),
					}, e.analyst())
					if err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run(name+"/TopProducts", func(b *testing.B) {
				for b.Loop() {
					end := time.Now()
					resp, err := a.client.TopProducts(b.Context(), &analyticsv1.TopProductsRequest{
						Metric: analyticsv1.Metric_METRIC_VIEWS, Limit: 10,
						StartTime: timestamppb.New(end.Add(-window)), EndTime: timestamppb.New(end),
					}, e.analyst())
					if err != nil || len(resp.GetProducts()) == 0 {
						b.Fatalf("top products: %d listed, %v", len(resp.GetProducts()), err)
					}
				}
			})
		}
	}
}

// loadEvents stores n events over the products and the last 7 days
// through the store, in batches as a stream writes them, and returns the
// products.
func loadEvents(b *testing.B, store *pgstore.Store, n, products int) []uuid.UUID {
	b.Helper()
	ids := make([]uuid.UUID, products)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	now := time.Now()
	span := 7 * 24 * time.Hour
	const batch = 5000
	events := make([]domain.Event, 0, batch)
	for i := range n {
		name := "product_viewed"
		if i%5 == 3 {
			name = "add_to_cart"
		}
		events = append(events, domain.Event{
			ID: uuid.Must(uuid.NewV7()), Name: name, UserID: fmt.Sprintf("user-%d", i%5000),
			// Spread evenly over the span, products interleaved.
			OccurredAt: now.Add(-time.Duration(int64(span) / int64(n) * int64(i))),
			ProductID:  ids[i%products],
		})
		if len(events) == batch || i == n-1 {
			if _, err := store.InsertBatch(b.Context(), events); err != nil {
				b.Fatalf("load events: %v", err)
			}
			events = events[:0]
		}
	}
	return ids
}
