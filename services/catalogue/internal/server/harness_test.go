package server_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/libs/testenv"
	"github.com/storefront-go/storefront/services/catalogue/internal/server"
)

const (
	issuer   = "storefront-test"
	audience = "catalogue"
	// waitFor bounds every poll for something asynchronous (event delivery,
	// expiry); it only prevents hangs and is never asserted on.
	waitFor = 20 * time.Second
)

// env is one test's infrastructure: a fresh database, its own NATS server
// and a token issuer whose JWKS the servers trust.
type env struct {
	t       testing.TB
	dsn     string
	natsURL string
	auth    *testenv.Auth
	db      *pgxpool.Pool
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test; needs Docker")
	}
	return &env{t: tb, dsn: pg.NewDatabase(tb), natsURL: testenv.EmbeddedNATS(tb).URL(), auth: testenv.NewAuth(tb, issuer, audience)}
}

// instance is one catalogue replica running in this process.
type instance struct {
	srv    *service.Host
	client cataloguev1.CatalogueServiceClient
	stop   func()
}

// run starts a replica on loopback ports chosen by the kernel, configured
// from the same environment variables as production; vars override. Its
// logs are reported when the test fails, and also go to stderr with
// CATALOGUE_TEST_LOG set.
func (e *env) run(vars map[string]string) *testenv.Replica[*service.Host] {
	e.t.Helper()
	cfg := testenv.LoadConfig[server.Config](e.t, testenv.ReplicaEnv(e.dsn, e.natsURL, e.auth, map[string]string{
		"DATABASE_MAX_CONNS":         "40",
		"OUTBOX_POLL_INTERVAL":       "20ms",
		"RESERVATION_SWEEP_INTERVAL": "1h",
	}, vars))
	return testenv.StartReplica(e.t, "catalogue", func(ctx context.Context, logger *slog.Logger) (*service.Host, error) {
		return service.New(ctx, server.Spec(), cfg, logger)
	}, testenv.WithStderrLogs("CATALOGUE_TEST_LOG"))
}

// start runs a replica as run does, with a client.
func (e *env) start(vars map[string]string) *instance {
	t := e.t
	t.Helper()
	r := e.run(vars)
	stop := func() {
		if err := r.Stop(); err != nil {
			t.Errorf("catalogue run: %v", err)
		}
	}
	conn := testenv.Dial(t, r.Host().GRPCAddr())
	return &instance{srv: r.Host(), client: cataloguev1.NewCatalogueServiceClient(conn), stop: stop}
}

// pool opens the test's own connection to the database, for setup and
// for checking what the service stored.
func (e *env) pool() *pgxpool.Pool {
	t := e.t
	t.Helper()
	if e.db != nil {
		return e.db
	}
	p, err := pgxpool.New(t.Context(), e.dsn)
	if err != nil {
		t.Fatalf("open test pool: %v", err)
	}
	t.Cleanup(p.Close)
	e.db = p
	return p
}

// as returns call options carrying a token with the given roles.
func (e *env) as(roles ...string) grpc.CallOption {
	e.t.Helper()
	return e.auth.As("test", roles...)
}

func (e *env) admin() grpc.CallOption   { return e.as("admin") }
func (e *env) service() grpc.CallOption { return e.as("service") }

// createProduct creates a product through the API.
func (e *env) createProduct(in *instance, req *cataloguev1.CreateProductRequest) *cataloguev1.Product {
	e.t.Helper()
	resp, err := in.client.CreateProduct(e.t.Context(), req, e.admin())
	if err != nil {
		e.t.Fatalf("create product %s: %v", req.GetSku(), err)
	}
	return resp.GetProduct()
}

// product returns a valid create request with a unique sku.
func product(name string, stock int64) *cataloguev1.CreateProductRequest {
	return &cataloguev1.CreateProductRequest{
		Sku:        "SKU-" + strings.ToUpper(uuid.NewString()[:8]),
		Name:       name,
		CategoryId: "general",
		Price:      &cataloguev1.Money{AmountMinor: 1000, CurrencyCode: "EUR"},
		StockQty:   stock,
	}
}

// stockOf reads a product's stock straight from the database.
func (e *env) stockOf(id string) int64 {
	e.t.Helper()
	var qty int64
	if err := e.pool().QueryRow(e.t.Context(), `SELECT stock_qty FROM products WHERE id = $1`, id).Scan(&qty); err != nil {
		e.t.Fatalf("read stock of %s: %v", id, err)
	}
	return qty
}

// eventually polls cond until it holds or waitFor passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	testenv.Eventually(tb, waitFor, 20*time.Millisecond, what, cond)
}

// code returns the gRPC code of err.
func code(err error) codes.Code { return status.Code(err) }
