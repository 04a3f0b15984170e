package perf_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"google.golang.org/protobuf/proto"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/testenv"
	"github.com/storefront-go/storefront/tools/internal/load"
)

// BenchmarkGetProductCacheHit measures R1: catalogue's GetProduct served
// from its cache, through the whole interceptor chain, against the bare
// grpc-go server returning the same product's bytes. Both run as host
// processes (pinned to one CPU when PERF_SERVER_CPU is set); the generator
// calls each over one connection with concurrency callers, anonymously,
// as a shopper's browser does. Sub-benchmarks alternate
// catalogue/round-k and bare/round-k; each reports calls/s, p50-ms and
// p99-ms.
func BenchmarkGetProductCacheHit(b *testing.B) {
	c := startCatalogue(b, nil)
	id := c.createProduct(b, 1)
	got, err := c.client.GetProduct(b.Context(), &cataloguev1.GetProductRequest{ProductId: id})
	if err != nil {
		b.Fatalf("get product: %v", err)
	}
	raw, err := proto.Marshal(got.GetProduct())
	if err != nil {
		b.Fatal(err)
	}

	bareBin, bareEnv := pinned(b, testenv.BuildBinary(b, bareserverCmd))
	bareEnv = maps.Clone(bareEnv)
	if bareEnv == nil {
		bareEnv = map[string]string{}
	}
	bareEnv["BARE_PRODUCT"] = base64.StdEncoding.EncodeToString(raw)
	bareProc := testenv.NewProcess(b, "bareserver", bareBin, bareEnv)
	bareProc.Start()
	bare := cataloguev1.NewCatalogueServiceClient(dial(b, bareProc.GRPCAddr()))

	alternate(b, []side{{"catalogue", getProduct(c.client, id)}, {"bare", getProduct(bare, id)}})
}

// BenchmarkGetProductCacheMiss measures R1b: GetProduct read from Postgres
// (PRODUCT_CACHE_SIZE=1, the callers cycling over missProducts products)
// against a raw pgx QueryRow of the same columns and row, on a pool of the
// size anonymous reads get (DATABASE_PUBLIC_MAX_CONNS, 4), at the same
// concurrency. The raw loop runs in the generator's process.
// Sub-benchmarks alternate catalogue/round-k and pgx/round-k.
func BenchmarkGetProductCacheMiss(b *testing.B) {
	c := startCatalogue(b, map[string]string{"PRODUCT_CACHE_SIZE": "1", "DATABASE_PUBLIC_MAX_CONNS": strconv.Itoa(publicConns)})
	ids := make([]string, missProducts)
	created := load.Closed(b.Context(), concurrency, missProducts, time.Minute, callTimeout, func(ctx context.Context, seq int64) error {
		id, err := c.create(ctx, seq)
		ids[seq] = id
		return err
	})
	if err := created.Err(); err != nil || created.Calls() != missProducts {
		b.Fatalf("created %d of %d products: %v", created.Calls(), missProducts, err)
	}
	cfg, err := pgxpool.ParseConfig(c.dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = publicConns
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)

	viaCatalogue := func(ctx context.Context, seq int64) error {
		return getProduct(c.client, ids[seq%missProducts])(ctx, seq)
	}
	raw := func(ctx context.Context, seq int64) error {
		var (
			id, sku, name, desc, category, currency string
			price, stock                            int64
			images                                  []string
			created, updated                        time.Time
		)
		return pool.QueryRow(ctx, `SELECT id, sku, name, description, category_id, price_minor, currency_code, stock_qty, image_urls, created_at, updated_at FROM products WHERE id = $1`,
			ids[seq%missProducts]).Scan(&id, &sku, &name, &desc, &category, &price, &currency, &stock, &images, &created, &updated)
	}
	alternate(b, []side{{"catalogue", viaCatalogue}, {"pgx", raw}})
}

// BenchmarkGetProductOpenLoop measures L1 for GetProduct: the closed
// loop's maximum throughput from the cache (max), then an open loop at a
// fixed arrival rate of 0.25, 0.5, 0.75 and 1.0 of that maximum
// (load=<fraction>), each reporting the rate it achieved, its p50 and p99
// timed from each call's scheduled start, and the calls it dropped.
func BenchmarkGetProductOpenLoop(b *testing.B) {
	c := startCatalogue(b, nil)
	id := c.createProduct(b, 1)
	call := getProduct(c.client, id)
	warm(b, call)
	var maxRate float64
	b.Run("max", func(b *testing.B) { maxRate = closedBatch(b, call).Throughput() })
	for _, f := range []float64{0.25, 0.5, 0.75, 1.0} {
		b.Run(fmt.Sprintf("load=%.2f", f), func(b *testing.B) {
			var res load.Result
			for range b.N {
				res = load.Open(b.Context(), f*maxRate, batchDuration(b), openInFlight, callTimeout, call)
				if res.Errors > 0 {
					b.Fatal(res.Err())
				}
			}
			reportLatency(b, res)
			b.ReportMetric(float64(res.Dropped), "dropped")
		})
	}
}

const (
	// missProducts is how many products the cache-miss callers cycle over.
	missProducts = 1000
	// publicConns is catalogue's pool for anonymous reads
	// (DATABASE_PUBLIC_MAX_CONNS's default).
	publicConns = 4
	// openInFlight bounds the open loop's outstanding calls.
	openInFlight = 512
)

// side is one half of an A/B pair.
type side struct {
	name string
	call load.Call
}

// alternate warms every side up, then runs one closed-loop batch of each
// in turn, rounds times, as sub-benchmarks <side>/round-<k>.
func alternate(b *testing.B, sides []side) {
	b.Helper()
	for _, s := range sides {
		warm(b, s.call)
	}
	for k := 1; k <= rounds(b); k++ {
		for _, s := range sides {
			b.Run(fmt.Sprintf("%s/round-%d", s.name, k), func(b *testing.B) { closedBatch(b, s.call) })
		}
	}
}

// getProduct is an anonymous GetProduct of id that checks the answer.
func getProduct(c cataloguev1.CatalogueServiceClient, id string) load.Call {
	req := &cataloguev1.GetProductRequest{ProductId: id}
	return func(ctx context.Context, _ int64) error {
		resp, err := c.GetProduct(ctx, req)
		if err == nil && resp.GetProduct().GetId() != id {
			err = fmt.Errorf("got product %q, want %q", resp.GetProduct().GetId(), id)
		}
		return err
	}
}

// catalogue is a catalogue host process under load.
type catalogue struct {
	proc   *testenv.Process
	client cataloguev1.CatalogueServiceClient
	auth   *testenv.Auth
	dsn    string
}

// startCatalogue runs catalogue as a host process, pinned as pinned says,
// on a database of its own, with overrides added to its environment.
func startCatalogue(b *testing.B, overrides map[string]string) *catalogue {
	b.Helper()
	pg, nats := deps(b)
	c := &catalogue{auth: testenv.NewAuth(b, issuer, audience), dsn: pg.NewDatabase(b)}
	bin, env := pinned(b, testenv.BuildBinary(b, catalogueCmd))
	c.proc = testenv.NewProcess(b, "catalogue", bin, testenv.ReplicaEnv(c.dsn, nats.URL(), c.auth, env, overrides))
	c.proc.Start()
	c.client = cataloguev1.NewCatalogueServiceClient(dial(b, c.proc.GRPCAddr()))
	return c
}

// createProduct creates product number n, of a realistic size, as an
// admin, and returns its id.
func (c *catalogue) createProduct(b *testing.B, n int64) string {
	b.Helper()
	id, err := c.create(b.Context(), n)
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// create creates product number n and returns its id.
func (c *catalogue) create(ctx context.Context, n int64) (string, error) {
	resp, err := c.client.CreateProduct(ctx, &cataloguev1.CreateProductRequest{
		Sku:         fmt.Sprintf("PERF-LAMP-%d", n),
		Name:        "Brass desk lamp",
		Description: "A brass desk lamp with a linen shade, a dimmer and a two-metre cable.",
		CategoryId:  "lighting",
		Price:       &cataloguev1.Money{AmountMinor: 4999, CurrencyCode: "EUR"},
		StockQty:    100,
		ImageUrls:   []string{"https://images.example.com/lamp-1.jpg"},
	}, c.auth.As("perf", "admin"))
	if err != nil {
		return "", fmt.Errorf("create product %d: %w", n, err)
	}
	return resp.GetProduct().GetId(), nil
}
