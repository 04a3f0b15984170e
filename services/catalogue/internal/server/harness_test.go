package server_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/config"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
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
// and a token signer whose JWKS the servers trust.
type env struct {
	t        *testing.T
	dsn      string
	natsURL  string
	jwksFile string
	signer   *auth.Signer
	db       *pgxpool.Pool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	e := &env{t: t, dsn: pg.NewDatabase(t), natsURL: testenv.EmbeddedNATS(t).URL()}
	signer, err := auth.NewSigner("test-key")
	if err != nil {
		t.Fatalf("new signer: %v", err)
	}
	e.signer = signer
	jwks, err := signer.JWKS()
	if err != nil {
		t.Fatalf("jwks: %v", err)
	}
	e.jwksFile = filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(e.jwksFile, jwks, 0o600); err != nil {
		t.Fatalf("write jwks: %v", err)
	}
	return e
}

// testLogger discards logs unless CATALOGUE_TEST_LOG is set, in which case
// they go to stderr (t.Log would panic on the shutdown logs of servers that
// outlive a subtest).
func testLogger() *slog.Logger {
	if os.Getenv("CATALOGUE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// instance is one catalogue replica running in this process.
type instance struct {
	srv    *server.Server
	client cataloguev1.CatalogueServiceClient
	conn   *grpc.ClientConn
	stop   func()
}

// config is a replica's configuration on loopback ports chosen by the
// kernel, read from the same environment variables as production; vars
// override.
func (e *env) config(vars map[string]string) server.Config {
	t := e.t
	t.Helper()
	environ := map[string]string{
		"DATABASE_URL":               e.dsn,
		"DATABASE_MAX_CONNS":         "40",
		"NATS_URL":                   e.natsURL,
		"AUTH_JWKS_FILE":             e.jwksFile,
		"AUTH_ISSUER":                issuer,
		"AUTH_AUDIENCE":              audience,
		"GRPC_ADDR":                  "127.0.0.1:0",
		"HTTP_ADDR":                  "127.0.0.1:0",
		"ADMIN_ADDR":                 "127.0.0.1:0",
		"SHUTDOWN_TIMEOUT":           "5s",
		"OUTBOX_POLL_INTERVAL":       "20ms",
		"RESERVATION_SWEEP_INTERVAL": "1h",
	}
	for k, v := range vars {
		environ[k] = v
	}
	cfg, err := config.LoadWithEnv[server.Config](environ)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg
}

// start runs a replica configured by e.config(vars).
func (e *env) start(vars map[string]string) *instance {
	t := e.t
	t.Helper()
	cfg := e.config(vars)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	srv, err := server.New(ctx, cfg, testLogger())
	if err != nil {
		cancel()
		t.Fatalf("new server: %v", err)
	}
	if err := srv.Listen(); err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	}
	t.Cleanup(stop)

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &instance{srv: srv, client: cataloguev1.NewCatalogueServiceClient(conn), conn: conn, stop: stop}
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
	tok, err := e.signer.Mint(auth.TokenClaims{Subject: "test", Roles: roles, Issuer: issuer, Audience: audience, TTL: time.Hour})
	if err != nil {
		e.t.Fatalf("mint token: %v", err)
	}
	return grpc.PerRPCCredentials(auth.BearerToken(tok))
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

// eventually polls cond every 20ms until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", waitFor, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// code returns the gRPC code of err.
func code(err error) codes.Code { return status.Code(err) }
