package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

// With its database paused, a read or a write whose caller allows 30 s
// fails when the server's ceiling runs out, before the caller's own
// deadline, and calls succeed again right after the database comes back,
// without a restart.
func TestStalledDatabaseFailsCallsAtTheCeiling(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	// A Postgres of its own: pausing the shared one would stall other tests.
	own, err := testenv.StartPostgres(t.Context())
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), time.Minute)
		defer cancel()
		_ = own.Unpause(ctx)
		if err := own.Terminate(ctx); err != nil {
			t.Errorf("terminate postgres: %v", err)
		}
	})
	e := &env{t: t, dsn: own.NewDatabase(t), natsURL: testenv.EmbeddedNATS(t).URL(), auth: testenv.NewAuth(t, issuer, audience)}
	in := e.start(map[string]string{"GRPC_READ_CEILING": "3s", "GRPC_WRITE_CEILING": "4s"})
	lamp := e.createProduct(in, product("Lamp", 5))
	search := func(ctx context.Context) error {
		_, err := in.client.SearchProducts(ctx, &cataloguev1.SearchProductsRequest{Query: "lamp"})
		return err
	}
	if err := search(t.Context()); err != nil {
		t.Fatalf("search before the outage: %v", err)
	}

	if err := own.Pause(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"SearchProducts (read)", search},
		{"AdjustStock (write)", func(ctx context.Context) error {
			_, err := in.client.AdjustStock(ctx, &cataloguev1.AdjustStockRequest{ProductId: lamp.GetId(), Delta: 1, Reason: "stall"}, e.admin())
			return err
		}},
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		began := time.Now()
		err := c.call(ctx)
		t.Logf("%s with the database paused: %v after %v", c.name, code(err), time.Since(began).Round(10*time.Millisecond))
		if code(err) != codes.DeadlineExceeded || ctx.Err() != nil {
			t.Errorf("%s = %v (caller's context: %v); want DEADLINE_EXCEEDED from the server's ceiling, before the caller's 30 s", c.name, err, ctx.Err())
		}
		cancel()
	}

	if err := own.Unpause(t.Context()); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	eventually(t, "reads to work again", func() bool { return search(t.Context()) == nil })
	t.Logf("reads work again %v after unpause", time.Since(began).Round(10*time.Millisecond))
}

// A write stuck behind a lock gives up at DATABASE_LOCK_TIMEOUT with
// UNAVAILABLE naming postgres, well inside the write ceiling.
func TestLockedRowGivesUnavailableNamingPostgres(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(map[string]string{"DATABASE_LOCK_TIMEOUT": "1s"})
	lamp := e.createProduct(in, product("Lamp", 5))

	tx, err := e.pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(t.Context())) }()
	if _, err := tx.Exec(t.Context(), `SELECT 1 FROM products WHERE id = $1 FOR UPDATE`, lamp.GetId()); err != nil {
		t.Fatalf("lock the product: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	began := time.Now()
	_, err = in.client.AdjustStock(ctx, &cataloguev1.AdjustStockRequest{ProductId: lamp.GetId(), Delta: 1, Reason: "locked"}, e.admin())
	t.Logf("AdjustStock behind a held lock: %v after %v", code(err), time.Since(began).Round(10*time.Millisecond))
	st, _ := status.FromError(err)
	var dependency string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			dependency = info.GetMetadata()["dependency"]
		}
	}
	if code(err) != codes.Unavailable || dependency != "postgres" {
		t.Errorf("AdjustStock behind a lock = %v (dependency %q); want UNAVAILABLE naming postgres", err, dependency)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := in.client.AdjustStock(t.Context(), &cataloguev1.AdjustStockRequest{ProductId: lamp.GetId(), Delta: 1, Reason: "unlocked"}, e.admin()); err != nil {
		t.Errorf("AdjustStock once the lock is gone: %v", err)
	}
}
