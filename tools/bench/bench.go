package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/storefront-go/storefront/libs/auth"
	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2

	baseline = "health"
	// maxCalls and maxConcurrency bound what one run may ask for.
	maxCalls       = 1_000_000
	maxConcurrency = 256
	// callTimeout bounds every call, so a stuck server cannot hang a run.
	callTimeout = 10 * time.Second
)

// allScenarios lists the scenarios in the order they run within a round.
func allScenarios() []string {
	return []string{baseline, "get-product", "search", "place-order", "track-event"}
}

// trackEventTimeout is the deadline the analytics clients give TrackEvent.
const trackEventTimeout = 200 * time.Millisecond

// searchWords are the queries of the search scenario; the demo data (make
// seed) has products matching each.
func searchWords() []string {
	return []string{"coffee", "mug", "tea", "blue", "classic", "organic", "steel", "cotton"}
}

type options struct {
	catalogueAddr string
	ordersAddr    string
	analyticsAddr string
	token         string
	calls         int
	concurrency   int
	rounds        int
	maxTime       time.Duration
	scenarios     []string
	json          bool
}

// scenario is one kind of call. call gets a sequence number unique within
// the run; setup runs once before any call and cleanup once after the last,
// both outside the timed part.
type scenario struct {
	name    string
	setup   func(ctx context.Context) error
	call    func(ctx context.Context, seq int64) error
	cleanup func(ctx context.Context) error
}

// result is what one scenario measured over every round.
type result struct {
	Name            string        `json:"scenario"`
	Calls           int           `json:"calls"`
	Errors          int           `json:"errors"`
	FirstError      string        `json:"first_error,omitempty"`
	Elapsed         time.Duration `json:"-"`
	Throughput      float64       `json:"calls_per_second"`
	P50             time.Duration `json:"p50_ns"`
	P90             time.Duration `json:"p90_ns"`
	P99             time.Duration `json:"p99_ns"`
	Max             time.Duration `json:"max_ns"`
	P50Ratio        float64       `json:"p50_vs_baseline"`
	ThroughputRatio float64       `json:"throughput_vs_baseline"`

	latencies []time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	opts, err := parseOptions(args, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitUsage
	}
	results, note, err := bench(ctx, opts, stderr)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitError
	}
	if err := report(stdout, opts, results, note); err != nil {
		_, _ = fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitError
	}
	for _, r := range results {
		if r.Errors > 0 {
			_, _ = fmt.Fprintf(stderr, "bench: %s: %d of %d calls failed; first: %s\n", r.Name, r.Errors, r.Calls, r.FirstError)
			return exitError
		}
	}
	return exitOK
}

func parseOptions(args []string, stderr io.Writer, getenv func(string) string) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := options{}
	fs.StringVar(&opts.catalogueAddr, "catalogue", envOr(getenv, "STOREFRONT_ADDR", "localhost:50051"), "catalogue gRPC `address`")
	fs.StringVar(&opts.ordersAddr, "orders", envOr(getenv, "STOREFRONT_ORDERS_ADDR", "localhost:50052"), "orders gRPC `address`")
	fs.StringVar(&opts.analyticsAddr, "analytics", envOr(getenv, "STOREFRONT_ANALYTICS_ADDR", "localhost:50053"), "analytics gRPC `address` for track-event")
	fs.StringVar(&opts.token, "token", getenv("STOREFRONT_TOKEN"), "customer bearer `token` for place-order (storefrontctl token --sub bench --role customer)")
	fs.IntVar(&opts.calls, "n", 2000, "timed calls per scenario, split over the rounds")
	fs.IntVar(&opts.concurrency, "c", 8, "concurrent callers")
	fs.IntVar(&opts.rounds, "rounds", 4, "interleaved rounds")
	fs.DurationVar(&opts.maxTime, "max-time", 2*time.Minute, "stop calling after this long, whatever -n says")
	list := fs.String("scenarios", strings.Join(allScenarios(), ","), "comma-separated scenarios to run besides the health baseline ("+strings.Join(allScenarios(), ", ")+")")
	fs.BoolVar(&opts.json, "json", false, "print one JSON object per scenario")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr, "Usage: bench [flags]\n\nDrives a running stack (make up) and reports latency and throughput as\nratios against the health check measured in the same run.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case opts.calls < 1 || opts.calls > maxCalls:
		return opts, fmt.Errorf("-n %d: want 1 to %d", opts.calls, maxCalls)
	case opts.concurrency < 1 || opts.concurrency > maxConcurrency:
		return opts, fmt.Errorf("-c %d: want 1 to %d", opts.concurrency, maxConcurrency)
	case opts.rounds < 1 || opts.rounds > opts.calls:
		return opts, fmt.Errorf("-rounds %d: want 1 to -n", opts.rounds)
	case opts.maxTime <= 0:
		return opts, fmt.Errorf("-max-time %s: want a positive duration", opts.maxTime)
	}
	opts.scenarios = []string{baseline}
	for name := range strings.SplitSeq(*list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || name == baseline {
			continue
		}
		if !slices.Contains(allScenarios(), name) {
			return opts, fmt.Errorf("unknown scenario %q (want %s)", name, strings.Join(allScenarios(), ", "))
		}
		if !slices.Contains(opts.scenarios, name) {
			opts.scenarios = append(opts.scenarios, name)
		}
	}
	return opts, nil
}

func envOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}

// bench runs the scenarios and returns their results, baseline first, and
// a note about anything left out or cut short.
func bench(ctx context.Context, opts options, stderr io.Writer) ([]*result, string, error) {
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if opts.token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(auth.BearerToken(opts.token)))
	}
	catConn, err := grpc.NewClient(opts.catalogueAddr, dialOpts...)
	if err != nil {
		return nil, "", fmt.Errorf("connect to catalogue %s: %w", opts.catalogueAddr, err)
	}
	defer func() { _ = catConn.Close() }()
	ordConn, err := grpc.NewClient(opts.ordersAddr, dialOpts...)
	if err != nil {
		return nil, "", fmt.Errorf("connect to orders %s: %w", opts.ordersAddr, err)
	}
	defer func() { _ = ordConn.Close() }()
	anaConn, err := grpc.NewClient(opts.analyticsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, "", fmt.Errorf("connect to analytics %s: %w", opts.analyticsAddr, err)
	}
	defer func() { _ = anaConn.Close() }()

	var notes []string
	scenarios, skipped := buildScenarios(opts, healthpb.NewHealthClient(catConn), clients{
		cat: cataloguev1.NewCatalogueServiceClient(catConn),
		ord: ordersv1.NewOrderServiceClient(ordConn),
		ana: analyticsv1.NewAnalyticsServiceClient(anaConn),
	})
	if skipped != "" {
		notes = append(notes, skipped)
	}
	for _, sc := range scenarios {
		if sc.setup == nil {
			continue
		}
		if err := sc.setup(ctx); err != nil {
			return nil, "", fmt.Errorf("%s: setup: %w", sc.name, err)
		}
	}
	defer func() {
		for _, sc := range scenarios {
			if sc.cleanup == nil {
				continue
			}
			// Cleanup runs even when the run was interrupted.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			if err := sc.cleanup(cctx); err != nil {
				_, _ = fmt.Fprintf(stderr, "bench: %s: cleanup: %v\n", sc.name, err)
			}
			cancel()
		}
	}()

	results := make([]*result, len(scenarios))
	seqs := make([]atomic.Int64, len(scenarios))
	for i, sc := range scenarios {
		results[i] = &result{Name: sc.name}
		// Warm-up: connections, caches and JIT-like lazy paths, untimed.
		for range min(opts.calls/10, 50) {
			_ = callOnce(ctx, sc, seqs[i].Add(1))
		}
	}
	deadline := time.Now().Add(opts.maxTime)
	cut := false
	for round := range opts.rounds {
		// Spread -n over the rounds; the first rounds take the remainder.
		n := opts.calls / opts.rounds
		if round < opts.calls%opts.rounds {
			n++
		}
		for i, sc := range scenarios {
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			if !runBatch(ctx, sc, n, opts.concurrency, deadline, &seqs[i], results[i]) {
				cut = true
			}
		}
	}
	if cut {
		notes = append(notes, fmt.Sprintf("stopped early by -max-time %s: fewer calls than -n", opts.maxTime))
	}
	summarize(results)
	return results, strings.Join(notes, "; "), nil
}

// clients are the services the scenarios call.
type clients struct {
	cat cataloguev1.CatalogueServiceClient
	ord ordersv1.OrderServiceClient
	ana analyticsv1.AnalyticsServiceClient
}

// buildScenarios returns the chosen scenarios, baseline first, and a note
// naming any that could not run.
func buildScenarios(opts options, health healthpb.HealthClient, cl clients) ([]scenario, string) {
	cat, ord := cl.cat, cl.ord
	var products []string
	loadProducts := func(ctx context.Context) error {
		if products != nil {
			return nil
		}
		ids, err := productIDs(ctx, cat)
		products = ids
		return err
	}
	runID := uuid.NewString()[:8]
	var (
		mu     sync.Mutex
		placed []string
	)
	var out []scenario
	skipped := ""
	for _, name := range opts.scenarios {
		switch name {
		case baseline:
			out = append(out, scenario{name: name, call: func(ctx context.Context, _ int64) error {
				_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
				return err
			}})
		case "get-product":
			out = append(out, scenario{name: name, setup: loadProducts, call: func(ctx context.Context, seq int64) error {
				_, err := cat.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: products[int(seq)%len(products)]})
				return err
			}})
		case "search":
			words := searchWords()
			out = append(out, scenario{name: name, call: func(ctx context.Context, seq int64) error {
				_, err := cat.SearchProducts(ctx, &cataloguev1.SearchProductsRequest{Query: words[int(seq)%len(words)], PageSize: 10})
				return err
			}})
		case "place-order":
			if opts.token == "" {
				skipped = "place-order skipped: it needs -token (a customer token)"
				continue
			}
			out = append(out, scenario{
				name:  name,
				setup: loadProducts,
				call: func(ctx context.Context, seq int64) error {
					resp, err := ord.PlaceOrder(ctx, &ordersv1.PlaceOrderRequest{
						IdempotencyKey: fmt.Sprintf("bench-%s-%d", runID, seq),
						Items:          []*ordersv1.OrderItem{{ProductId: products[int(seq)%len(products)], Quantity: 1}},
					})
					if err != nil {
						return err
					}
					mu.Lock()
					placed = append(placed, resp.GetOrder().GetId())
					mu.Unlock()
					return nil
				},
				// Cancelling gives the stock back, so runs can repeat.
				cleanup: func(ctx context.Context) error {
					mu.Lock()
					ids := slices.Clone(placed)
					mu.Unlock()
					return cancelAll(ctx, ord, ids, opts.concurrency)
				},
			})
		case "track-event":
			// Anonymous, as browsers call it, with the clients' deadline:
			// a call slower than that fails the run.
			out = append(out, scenario{name: name, setup: loadProducts, call: func(ctx context.Context, seq int64) error {
				ctx, cancel := context.WithTimeout(ctx, trackEventTimeout)
				defer cancel()
				_, err := cl.ana.TrackEvent(ctx, &analyticsv1.TrackEventRequest{Event: &analyticsv1.Event{
					EventId:    uuid.Must(uuid.NewV7()).String(),
					EventName:  "product_viewed",
					UserId:     fmt.Sprintf("bench-%s-%d", runID, seq%1000),
					OccurredAt: timestamppb.Now(),
					ProductId:  products[int(seq)%len(products)],
					Properties: map[string]string{"source": "bench"},
				}})
				return err
			}})
		}
	}
	return out, skipped
}

// maxProducts bounds how many products a run spreads its calls over, and
// maxUnitsPerProduct how many orders it places for one product.
const (
	maxProducts        = 1000
	maxUnitsPerProduct = 50
)

// productIDs returns ids of products in stock, one entry per unit that
// place-order may take, interleaved so that consecutive calls hit
// different products: every product in stock once, then every product
// with at least two units again, and so on.
func productIDs(ctx context.Context, cat cataloguev1.CatalogueServiceClient) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	stream, err := cat.ListProducts(ctx, &cataloguev1.ListProductsRequest{PageSize: 100})
	if err != nil {
		return nil, err
	}
	var products []*cataloguev1.Product
	for len(products) < maxProducts {
		page, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		for _, p := range page.GetProducts() {
			if p.GetStockQty() > 0 && len(products) < maxProducts {
				products = append(products, p)
			}
		}
	}
	var ids []string
	for layer := range int64(maxUnitsPerProduct) {
		for _, p := range products {
			if p.GetStockQty() > layer {
				ids = append(ids, p.GetId())
			}
		}
	}
	if len(ids) == 0 {
		return nil, errors.New("no product in stock: seed the stack first (make seed)")
	}
	return ids, nil
}

func cancelAll(ctx context.Context, ord ordersv1.OrderServiceClient, ids []string, concurrency int) error {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for range min(concurrency, max(len(ids), 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) || ctx.Err() != nil {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				_, err := ord.CancelOrder(cctx, &ordersv1.CancelOrderRequest{OrderId: ids[i], Reason: "bench cleanup"})
				cancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("cancel order %s: %w", ids[i], err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

func callOnce(ctx context.Context, sc scenario, seq int64) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return sc.call(ctx, seq)
}

// runBatch makes n timed calls with the given concurrency, stopping early
// at deadline, and adds them to res. It reports whether all n were made.
func runBatch(ctx context.Context, sc scenario, n, concurrency int, deadline time.Time, seq *atomic.Int64, res *result) bool {
	var (
		issued atomic.Int64
		mu     sync.Mutex
		wg     sync.WaitGroup
		made   int
	)
	start := time.Now()
	for range min(concurrency, n) {
		wg.Go(func() {
			var (
				lat    []time.Duration
				errs   int
				errMsg string
			)
			for issued.Add(1) <= int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				err := callOnce(ctx, sc, seq.Add(1))
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs++
					if errMsg == "" {
						errMsg = err.Error()
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.latencies = append(res.latencies, lat...)
			res.Calls += len(lat)
			made += len(lat)
			res.Errors += errs
			if res.FirstError == "" {
				res.FirstError = errMsg
			}
		})
	}
	wg.Wait()
	res.Elapsed += time.Since(start)
	return made == n
}

// summarize fills in the percentiles and the ratios to the baseline, which
// is results[0].
func summarize(results []*result) {
	for _, r := range results {
		slices.Sort(r.latencies)
		r.P50, r.P90, r.P99 = percentile(r.latencies, 50), percentile(r.latencies, 90), percentile(r.latencies, 99)
		if len(r.latencies) > 0 {
			r.Max = r.latencies[len(r.latencies)-1]
		}
		if r.Elapsed > 0 {
			r.Throughput = float64(r.Calls) / r.Elapsed.Seconds()
		}
	}
	base := results[0]
	for _, r := range results {
		if base.P50 > 0 {
			r.P50Ratio = float64(r.P50) / float64(base.P50)
		}
		if base.Throughput > 0 {
			r.ThroughputRatio = r.Throughput / base.Throughput
		}
	}
}

// percentile returns the p-th percentile of sorted by the nearest-rank method.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func report(w io.Writer, opts options, results []*result, note string) error {
	if opts.json {
		enc := json.NewEncoder(w)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	_, _ = fmt.Fprintf(tw, "scenario\tcalls\terrors\tcalls/s\tp50\tp90\tp99\tmax\tp50 vs %s\tcalls/s vs %s\t\n", baseline, baseline)
	for _, r := range results {
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%.2fx\t%.2fx\t\n", r.Name, r.Calls, r.Errors, r.Throughput,
			round(r.P50), round(r.P90), round(r.P99), round(r.Max), r.P50Ratio, r.ThroughputRatio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d rounds, %d concurrent callers, catalogue %s, orders %s, analytics %s\n", opts.rounds, opts.concurrency, opts.catalogueAddr, opts.ordersAddr, opts.analyticsAddr)
	if err == nil && note != "" {
		_, err = fmt.Fprintf(w, "note: %s\n", note)
	}
	return err
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
