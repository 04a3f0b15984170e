package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	pgstore "github.com/storefront-go/storefront/services/catalogue/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// searchShape is one kind of search the latency table reports.
type searchShape struct {
	name string
	req  *cataloguev1.SearchProductsRequest
	// suggest sends req's query to SuggestProducts instead.
	suggest bool
	// indexes must all appear in the plans of the shape's statements.
	indexes []string
}

func searchShapes() []searchShape {
	return []searchShape{
		{name: "plain", req: &cataloguev1.SearchProductsRequest{Query: "coffee beans "}, indexes: []string{"products_search_idx"}},
		{name: "prefix", req: &cataloguev1.SearchProductsRequest{Query: "coff"}, indexes: []string{"products_search_idx", "search_words_pkey"}},
		{name: "fuzzy", req: &cataloguev1.SearchProductsRequest{Query: "cofee "}, indexes: []string{"products_search_idx", "search_words_trgm_idx"}},
		{name: "fuzzy-2-typos", req: &cataloguev1.SearchProductsRequest{Query: "headfones "}, indexes: []string{"products_search_idx", "search_words_trgm_idx"}},
		{name: "faceted", req: &cataloguev1.SearchProductsRequest{Query: "coffee ", IncludeFacets: true}, indexes: []string{"products_search_idx"}},
		{
			name: "faceted-price-sort", req: &cataloguev1.SearchProductsRequest{Query: "coff", IncludeFacets: true, Sort: cataloguev1.SearchSort_SEARCH_SORT_PRICE_ASC},
			indexes: []string{"products_search_idx"},
		},
		{name: "suggest", req: &cataloguev1.SearchProductsRequest{Query: "coffee b"}, suggest: true, indexes: []string{"products_search_idx"}},
	}
}

// BenchmarkSearchLatency reports p50 and p99 of each search shape through
// the gRPC server, at 10k and 100k products (BENCH_SEARCH_SIZES overrides),
// and fails when a shape's plans miss the indexes it should use or scan
// the products table sequentially. Run it with, for example,
//
//	go test ./internal/server -run '^$' -bench SearchLatency -benchtime 300x
func BenchmarkSearchLatency(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if v := os.Getenv("BENCH_SEARCH_SIZES"); v != "" {
		sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("BENCH_SEARCH_SIZES: %q is not a positive count", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		e := newEnv(b)
		in := e.start(nil)
		loadStart := time.Now()
		loadProducts(b, e.pool(), size)
		b.Logf("loaded %d products in %s", size, time.Since(loadStart).Round(time.Millisecond))
		plans := explainShapes(b, e.dsn)
		for _, s := range searchShapes() {
			b.Run(fmt.Sprintf("products=%d/%s", size, s.name), func(b *testing.B) {
				checkPlans(b, s, plans[s.name])
				var took []time.Duration
				for b.Loop() {
					start := time.Now()
					var err error
					if s.suggest {
						_, err = in.client.SuggestProducts(b.Context(), &cataloguev1.SuggestProductsRequest{Prefix: s.req.GetQuery()})
					} else {
						var resp *cataloguev1.SearchProductsResponse
						resp, err = in.client.SearchProducts(b.Context(), s.req)
						if err == nil && resp.GetTotalSize() == 0 {
							err = fmt.Errorf("%q found nothing", s.req.GetQuery())
						}
					}
					took = append(took, time.Since(start))
					if err != nil {
						b.Fatal(err)
					}
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// loadProducts copies n generated products into the catalogue: names and
// descriptions from the demo vocabulary plus one made-up brand word each,
// about 8,000 distinct, so the vocabulary is the size of a real shop's.
// The vocabulary trigger runs for every row, as it does for the service.
func loadProducts(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := b.Context()
	categories := []string{"electronics", "books", "home-kitchen", "garden", "toys", "sports", "beauty", "grocery", "fashion", "automotive"}
	nouns := [][]string{
		{"Headphones", "Speaker", "Charger", "Keyboard", "Mouse", "Monitor", "Webcam", "Power Bank"},
		{"Cookbook", "Novel", "Atlas", "Field Guide", "Notebook", "Biography", "Poetry Collection", "Travel Guide"},
		{"Mug", "Teapot", "Frying Pan", "Knife Set", "Cutting Board", "Blender", "Toaster", "Kettle"},
		{"Watering Can", "Trowel", "Planter", "Hose", "Pruning Shears", "Bird Feeder", "Solar Lamp", "Seed Kit"},
		{"Puzzle", "Building Blocks", "Kite", "Board Game", "Plush Bear", "Yo-Yo", "Train Set", "Card Game"},
		{"Yoga Mat", "Water Bottle", "Tennis Racket", "Football", "Jump Rope", "Dumbbell", "Bike Light", "Backpack"},
		{"Hand Cream", "Shampoo", "Soap Bar", "Lip Balm", "Face Mask", "Hair Brush", "Perfume", "Sunscreen"},
		{"Coffee Beans", "Green Tea", "Olive Oil", "Honey", "Dark Chocolate", "Pasta", "Granola", "Hot Sauce"},
		{"Scarf", "Beanie", "Sneakers", "Raincoat", "Wallet", "Sunglasses", "Belt", "Socks"},
		{"Car Charger", "Phone Mount", "Floor Mats", "Tyre Gauge", "Dash Cam", "Seat Cushion", "Ice Scraper", "Jump Starter"},
	}
	adjectives := []string{"Classic", "Compact", "Deluxe", "Eco", "Essential", "Premium", "Rugged", "Smart", "Travel", "Vintage"}
	colours := []string{"Black", "White", "Blue", "Red", "Green", "Grey", "Yellow"}
	syllables := []string{"ka", "lo", "mer", "vin", "dra", "sol", "tek", "ri", "bel", "nor", "ax", "qui", "zen", "por", "lum", "fi", "gar", "on", "tra", "vel"}
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	brand := func() string {
		return syllables[rng.IntN(len(syllables))] + syllables[rng.IntN(len(syllables))] + syllables[rng.IntN(len(syllables))]
	}
	for _, c := range categories {
		if _, err := pool.Exec(ctx, `INSERT INTO categories (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, c); err != nil {
			b.Fatal(err)
		}
	}
	created := time.Now().Add(-time.Duration(n) * time.Second)
	rows := make([][]any, 0, n)
	for i := range n {
		c := i % len(categories)
		noun := nouns[c][rng.IntN(len(nouns[c]))]
		name := fmt.Sprintf("%s %s %s %s", adjectives[rng.IntN(len(adjectives))], colours[rng.IntN(len(colours))], noun, strings.ToUpper(brand()[:1])+brand()[1:])
		desc := fmt.Sprintf("A %s from the %s range by %s, built to last.", strings.ToLower(noun), categories[c], brand())
		rows = append(rows, []any{
			uuid.Must(uuid.NewV7()), fmt.Sprintf("BENCH-%07d", i), name, desc, categories[c],
			int64(rng.IntN(30000) + 99), "EUR", int64(10), created.Add(time.Duration(i) * time.Second),
		})
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"products"},
		[]string{"id", "sku", "name", "description", "category_id", "price_minor", "currency_code", "stock_qty", "created_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatalf("copy products: %v", err)
	}
	// Autovacuum would do this soon after a bulk load: merge the GIN
	// pending list and collect statistics.
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) products, search_words`); err != nil {
		b.Fatal(err)
	}
}

// statementLog records the statements a pool sends, with their arguments.
type statementLog struct {
	mu    sync.Mutex
	stmts []loggedStatement
}

type loggedStatement struct {
	sql  string
	args []any
}

func (l *statementLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	explain := strings.HasPrefix(data.SQL, "EXPLAIN")
	if !explain && (strings.Contains(data.SQL, "search_words") || strings.Contains(data.SQL, "search @@")) {
		l.mu.Lock()
		l.stmts = append(l.stmts, loggedStatement{sql: data.SQL, args: data.Args})
		l.mu.Unlock()
	}
	return ctx
}

func (l *statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *statementLog) take() []loggedStatement {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.stmts
	l.stmts = nil
	return out
}

// explainShapes runs each shape once through the service's own store on a
// pool that records its statements, and returns each shape's plans.
func explainShapes(b *testing.B, dsn string) map[string][]string {
	b.Helper()
	ctx := b.Context()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	log := &statementLog{}
	cfg.ConnConfig.Tracer = log
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := pgstore.New(libpg.Lanes{Main: pool})
	out := map[string][]string{}
	for _, s := range searchShapes() {
		if s.suggest {
			_, err = store.Suggest(ctx, s.req.GetQuery(), "", domain.MaxSuggestions)
		} else {
			opts := domain.SearchOptions{Facets: s.req.GetIncludeFacets(), PriceBandEdges: domain.DefaultPriceBandEdges()}
			if s.req.GetSort() == cataloguev1.SearchSort_SEARCH_SORT_PRICE_ASC {
				opts.Sort = domain.SortPriceAsc
			}
			_, err = store.Search(ctx, domain.SearchFilter{Query: s.req.GetQuery()}, opts, nil, domain.DefaultSearchPageSize)
		}
		if err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
		for _, st := range log.take() {
			rows, err := pool.Query(ctx, "EXPLAIN "+st.sql, st.args...)
			if err != nil {
				b.Fatalf("explain %s: %v\n%s", s.name, err, st.sql)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				b.Fatalf("explain %s: %v\n%s", s.name, err, st.sql)
			}
			out[s.name] = append(out[s.name], strings.Join(lines, "\n"))
		}
	}
	return out
}

func checkPlans(b *testing.B, s searchShape, plans []string) {
	b.Helper()
	all := strings.Join(plans, "\n")
	if len(plans) == 0 {
		b.Fatalf("%s: no statements recorded", s.name)
	}
	for _, idx := range s.indexes {
		if !strings.Contains(all, idx) {
			b.Errorf("%s: no plan uses %s:\n%s", s.name, idx, all)
		}
	}
	if strings.Contains(all, "Seq Scan on products") || strings.Contains(all, "Seq Scan on search_words") {
		b.Errorf("%s: a plan scans a table sequentially:\n%s", s.name, all)
	}
	if os.Getenv("BENCH_SEARCH_PLANS") != "" {
		b.Logf("%s plans:\n%s", s.name, all)
	}
}
