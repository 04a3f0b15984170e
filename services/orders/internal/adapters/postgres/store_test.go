package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storefront-go/storefront/libs/outbox"
	pgstore "github.com/storefront-go/storefront/services/orders/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

func newStore(t *testing.T) (*pgstore.Store, *pgxpool.Pool) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
	pool, err := pgxpool.New(t.Context(), pg.NewDatabase(t))
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	t.Cleanup(pool.Close)
	// The host applies the outbox's migrations before the service's own.
	if err := outbox.Migrate(t.Context(), pool); err != nil {
		t.Fatalf("migrate outbox: %v", err)
	}
	if err := pgstore.Migrate(t.Context(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// A second run is a no-op, as on every replica's start.
	if err := pgstore.Migrate(t.Context(), pool); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	return pgstore.New(pool), pool
}

func claim(key string, hash string) app.Claim {
	return app.Claim{
		CustomerID: "alice", Key: key, RequestHash: []byte(hash),
		OrderID: uuid.Must(uuid.NewV7()), Lease: time.Minute, TTL: time.Hour,
	}
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), sql); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func sampleOrder(id uuid.UUID) domain.Order {
	now := domain.Timestamp(time.Now())
	eur := func(n int64) domain.Money { return domain.Money{AmountMinor: n, CurrencyCode: "EUR"} }
	return domain.Order{
		ID: id, CustomerID: "alice", Status: domain.StatusConfirmed,
		Lines: []domain.Line{
			{ProductID: uuid.MustParse("0190a0e8-0000-7000-8000-00000000000a"), SKU: "A", Name: "Apple", Quantity: 2, UnitPrice: eur(100), LineTotal: eur(200)},
			{ProductID: uuid.MustParse("0190a0e8-0000-7000-8000-00000000000b"), SKU: "B", Name: "Bread", Quantity: 1, UnitPrice: eur(300), LineTotal: eur(300)},
		},
		Total: eur(500), CreatedAt: now, UpdatedAt: now,
	}
}

func TestClaimLifecycle(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	ctx := t.Context()

	first := claim("k1", "hash-1")
	if _, claimed, _, err := store.Claim(ctx, first); err != nil || !claimed {
		t.Fatalf("first claim = %t, %v; want claimed", claimed, err)
	}
	rec, claimed, found, err := store.Claim(ctx, claim("k1", "hash-1"))
	if err != nil || claimed || !found || rec.Completed || rec.OrderID != first.OrderID {
		t.Fatalf("claim of a held key = %+v, claimed %t, found %t, %v; want the pending holder", rec, claimed, found, err)
	}

	o := sampleOrder(first.OrderID)
	ref := app.KeyRef{CustomerID: "alice", Key: "k1", OrderID: first.OrderID}
	if err := store.Create(ctx, o, ref); err != nil {
		t.Fatalf("Create: %v", err)
	}
	rec, claimed, _, err = store.Claim(ctx, claim("k1", "hash-1"))
	if err != nil || claimed || !rec.Completed || string(rec.RequestHash) != "hash-1" {
		t.Fatalf("claim of a completed key = %+v, %t, %v; want its stored response", rec, claimed, err)
	}
	if diff := cmp.Diff(o, rec.Placed); diff != "" {
		t.Fatalf("stored response of a completed key (-want +got):\n%s", diff)
	}
	// A completed key is never abandoned or completed again.
	if err := store.Abandon(ctx, ref); err != nil {
		t.Fatalf("Abandon: %v", err)
	}
	if err := store.Create(ctx, sampleOrder(uuid.Must(uuid.NewV7())), ref); !errors.Is(err, app.ErrClaimLost) {
		t.Errorf("second Create on the key: %v, want ErrClaimLost", err)
	}

	got, err := store.Get(ctx, o.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if diff := cmp.Diff(o, got); diff != "" {
		t.Errorf("stored order mismatch (-want +got):\n%s", diff)
	}

	// Expired keys count as absent.
	exec(t, pool, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second'`)
	again := claim("k1", "hash-2")
	if _, claimed, _, err := store.Claim(ctx, again); err != nil || !claimed {
		t.Errorf("claim of an expired key = %t, %v; want claimed", claimed, err)
	}
	if n, err := store.DeleteExpired(ctx, 10); err != nil || n != 0 {
		t.Errorf("DeleteExpired with the key renewed = %d, %v; want 0", n, err)
	}
}

func TestStaleClaimIsTakenOverAndAbandonFreesKey(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	ctx := t.Context()

	stale := claim("k2", "hash")
	if _, claimed, _, err := store.Claim(ctx, stale); err != nil || !claimed {
		t.Fatalf("claim: %t, %v", claimed, err)
	}
	exec(t, pool, `UPDATE idempotency_keys SET claimed_until = now() - interval '1 second'`)
	fresh := claim("k2", "hash")
	if _, claimed, _, err := store.Claim(ctx, fresh); err != nil || !claimed {
		t.Fatalf("claim of a stale key = %t, %v; want claimed", claimed, err)
	}
	// The stale attempt may not commit any more, nor free the new claim.
	staleRef := app.KeyRef{CustomerID: "alice", Key: "k2", OrderID: stale.OrderID}
	if err := store.Create(ctx, sampleOrder(stale.OrderID), staleRef); !errors.Is(err, app.ErrClaimLost) {
		t.Errorf("Create by the stale attempt: %v, want ErrClaimLost", err)
	}
	if _, err := store.Get(ctx, stale.OrderID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("the stale attempt's order exists: %v", err)
	}
	if err := store.Abandon(ctx, staleRef); err != nil {
		t.Fatalf("Abandon stale: %v", err)
	}
	if _, claimed, found, _ := store.Claim(ctx, claim("k2", "hash")); claimed || !found {
		t.Errorf("the stale attempt's Abandon freed the new claim (claimed %t, found %t)", claimed, found)
	}
	// The holder's Abandon frees it for a retry.
	if err := store.Abandon(ctx, app.KeyRef{CustomerID: "alice", Key: "k2", OrderID: fresh.OrderID}); err != nil {
		t.Fatalf("Abandon: %v", err)
	}
	if _, claimed, _, err := store.Claim(ctx, claim("k2", "hash")); err != nil || !claimed {
		t.Errorf("claim after Abandon = %t, %v; want claimed", claimed, err)
	}
}

func TestConcurrentClaimsHaveOneWinner(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	const n = 30
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners int
		errs    []error
	)
	for range n {
		wg.Go(func() {
			_, claimed, _, err := store.Claim(t.Context(), claim("race", "hash"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if claimed {
				winners++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || winners != 1 {
		t.Errorf("%d winners, errors %v; want exactly 1 winner", winners, errs)
	}
}

func TestDeleteExpired(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	for _, k := range []string{"a", "b", "c", "live"} {
		if _, _, _, err := store.Claim(t.Context(), claim(k, "h")); err != nil {
			t.Fatalf("claim %s: %v", k, err)
		}
	}
	exec(t, pool, `UPDATE idempotency_keys SET expires_at = now() - interval '1 hour' WHERE key <> 'live'`)
	n1, err := store.DeleteExpired(t.Context(), 2)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	n2, err := store.DeleteExpired(t.Context(), 2)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n1 != 2 || n2 != 1 {
		t.Errorf("deleted %d then %d, want 2 then 1", n1, n2)
	}
	var left []string
	rows, err := pool.Query(t.Context(), `SELECT key FROM idempotency_keys`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		left = append(left, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"live"}, left); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
}

func TestUpdateEnqueuesCancelOnce(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	c := claim("k3", "h")
	if _, _, _, err := store.Claim(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	o := sampleOrder(c.OrderID)
	if err := store.Create(t.Context(), o, app.KeyRef{CustomerID: "alice", Key: "k3", OrderID: o.ID}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	cancel := func(o *domain.Order) (bool, error) { return o.Cancel("no longer needed", time.Now()) }
	first, err := store.Update(t.Context(), o.ID, cancel)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	second, err := store.Update(t.Context(), o.ID, cancel)
	if err != nil {
		t.Fatalf("second Update: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second cancel changed the order (-first +second):\n%s", diff)
	}
	stored, err := store.Get(t.Context(), o.ID)
	if err != nil || stored.Status != domain.StatusCancelled || stored.CancelReason != "no longer needed" {
		t.Errorf("stored order = %+v, %v", stored, err)
	}
	var placed, cancelled int
	if err := pool.QueryRow(t.Context(), `
		SELECT count(*) FILTER (WHERE subject = 'orders.order.placed'),
		       count(*) FILTER (WHERE subject = 'orders.order.cancelled')
		FROM outbox_events`).Scan(&placed, &cancelled); err != nil {
		t.Fatal(err)
	}
	if placed != 1 || cancelled != 1 {
		t.Errorf("outbox holds %d placed and %d cancelled events, want 1 and 1", placed, cancelled)
	}
	if _, err := store.Update(t.Context(), uuid.New(), cancel); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Update of an unknown order: %v, want not found", err)
	}
}

func TestListNewestFirst(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	base := domain.Timestamp(time.Now())
	var want []uuid.UUID
	for i := range 5 {
		c := claim("list-"+string(rune('a'+i)), "h")
		if _, _, _, err := store.Claim(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		o := sampleOrder(c.OrderID)
		// Two orders share a timestamp, to exercise the id tie-break.
		o.CreatedAt = base.Add(time.Duration(i/2) * time.Second)
		o.UpdatedAt = o.CreatedAt
		if err := store.Create(t.Context(), o, app.KeyRef{CustomerID: "alice", Key: c.Key, OrderID: o.ID}); err != nil {
			t.Fatal(err)
		}
		want = append([]uuid.UUID{o.ID}, want...)
	}
	var got []uuid.UUID
	var after *app.Cursor
	for range 10 {
		page, err := store.List(t.Context(), "alice", after, 2)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, o := range page {
			got = append(got, o.ID)
			if len(o.Lines) != 2 {
				t.Errorf("order %s listed with %d lines, want 2", o.ID, len(o.Lines))
			}
		}
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		after = &app.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listing (-want newest first +got):\n%s", diff)
	}
	if other, err := store.List(t.Context(), "bob", nil, 10); err != nil || len(other) != 0 {
		t.Errorf("bob's listing = %d orders, %v; want none", len(other), err)
	}
}

func TestListEveryCustomerNewestFirst(t *testing.T) {
	t.Parallel()
	store, _ := newStore(t)
	base := domain.Timestamp(time.Now())
	type listed struct {
		at time.Time
		id uuid.UUID
	}
	var (
		all    []listed
		alices []uuid.UUID
	)
	for i := range 6 {
		c := claim("all-"+string(rune('a'+i)), "h")
		c.CustomerID = []string{"alice", "bob"}[i%2]
		if _, _, _, err := store.Claim(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		o := sampleOrder(c.OrderID)
		o.CustomerID = c.CustomerID
		// Pairs share a timestamp, one order of each customer, to exercise
		// the id tie-break across customers.
		o.CreatedAt = base.Add(time.Duration(i/2) * time.Second)
		o.UpdatedAt = o.CreatedAt
		if err := store.Create(t.Context(), o, app.KeyRef{CustomerID: c.CustomerID, Key: c.Key, OrderID: o.ID}); err != nil {
			t.Fatal(err)
		}
		all = append(all, listed{at: o.CreatedAt, id: o.ID})
		if o.CustomerID == "alice" {
			alices = append([]uuid.UUID{o.ID}, alices...)
		}
	}
	// Newest first; within a timestamp the larger id first.
	slices.SortFunc(all, func(a, b listed) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return bytes.Compare(b.id[:], a.id[:])
	})
	want := make([]uuid.UUID, len(all))
	for i, l := range all {
		want[i] = l.id
	}

	var got []uuid.UUID
	var after *app.Cursor
	for range 10 {
		page, err := store.List(t.Context(), app.AllCustomers, after, 4)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, o := range page {
			got = append(got, o.ID)
		}
		if len(page) < 4 {
			break
		}
		last := page[len(page)-1]
		after = &app.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listing of every customer (-want newest first +got):\n%s", diff)
	}
	mine, err := store.List(t.Context(), "alice", nil, 10)
	if err != nil {
		t.Fatalf("List alice: %v", err)
	}
	var mineIDs []uuid.UUID
	for _, o := range mine {
		mineIDs = append(mineIDs, o.ID)
	}
	if diff := cmp.Diff(alices, mineIDs); diff != "" {
		t.Errorf("alice's listing (-want +got):\n%s", diff)
	}
}

// Outcome waits for a transaction still completing the key, so an order
// whose COMMIT is slow is reported committed, not missing.
func TestOutcomeWaitsForAnInFlightCommit(t *testing.T) {
	t.Parallel()
	store, pool := newStore(t)
	ctx := t.Context()
	exec(t, pool, `
		CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$`)
	exec(t, pool, `
		CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON orders
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`)

	c := claim("slow", "hash")
	if _, claimed, _, err := store.Claim(ctx, c); err != nil || !claimed {
		t.Fatalf("claim = %t, %v", claimed, err)
	}
	ref := app.KeyRef{CustomerID: c.CustomerID, Key: c.Key, OrderID: c.OrderID}
	o := sampleOrder(c.OrderID)
	created := make(chan error, 1)
	go func() { created <- store.Create(context.WithoutCancel(ctx), o, ref) }()

	// Wait until Create holds the key's row, that is, until its commit is
	// under way.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := pool.Exec(ctx, `
			SELECT 1 FROM idempotency_keys WHERE customer_id = $1 AND key = $2 FOR SHARE NOWAIT`, ref.CustomerID, ref.Key)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Create never locked the key's row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := store.Get(ctx, o.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get during the commit = %v; want not found (the commit is not visible yet)", err)
	}
	got, committed, err := store.Outcome(ctx, ref)
	if err != nil || !committed {
		t.Fatalf("Outcome during a slow commit = committed %t, %v; want committed", committed, err)
	}
	if diff := cmp.Diff(o, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if err := <-created; err != nil {
		t.Fatalf("Create: %v", err)
	}

	// A key whose order was never stored is certainly not committed.
	other := claim("abandoned", "hash")
	if _, _, _, err := store.Claim(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, committed, err := store.Outcome(ctx, app.KeyRef{CustomerID: other.CustomerID, Key: other.Key, OrderID: other.OrderID}); err != nil || committed {
		t.Errorf("Outcome of a pending key = committed %t, %v; want not committed", committed, err)
	}
}
