package app_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

var (
	apple = domain.Product{ID: uuid.MustParse("0190a0e8-0000-7000-8000-0000000000a1"), SKU: "APPLE", Name: "Apple", Price: domain.Money{AmountMinor: 120, CurrencyCode: "EUR"}}
	bread = domain.Product{ID: uuid.MustParse("0190a0e8-0000-7000-8000-0000000000b2"), SKU: "BREAD", Name: "Bread", Price: domain.Money{AmountMinor: 300, CurrencyCode: "EUR"}}
	gum   = domain.Product{ID: uuid.MustParse("0190a0e8-0000-7000-8000-0000000000c3"), SKU: "GUM", Name: "Gum", Price: domain.Money{AmountMinor: 99, CurrencyCode: "USD"}}
)

var (
	alice = app.Caller{Subject: "alice"}
	bob   = app.Caller{Subject: "bob"}
	admin = app.Caller{Subject: "ops", Admin: true}
)

type fixture struct {
	svc         *app.Service
	store       *memStore
	cat         *fakeCatalogue
	unconfirmed *counter
	logs        *logLevels
}

func newFixture(t *testing.T, cfg app.Config) fixture {
	t.Helper()
	store := newMemStore()
	cat := newFakeCatalogue(apple, bread, gum)
	cat.setStock(apple.ID, 100)
	cat.setStock(bread.ID, 100)
	cat.setStock(gum.ID, 100)
	unconfirmed, logs := &counter{}, &logLevels{}
	svc := app.New(app.Deps{
		Catalogue: cat, Confirmer: cat, Keys: store, Orders: store, Reader: store, Unconfirmed: unconfirmed,
	}, cfg, slog.New(logs))
	return fixture{svc: svc, store: store, cat: cat, unconfirmed: unconfirmed, logs: logs}
}

func placeReq(key string, items ...domain.Item) app.PlaceOrder {
	return app.PlaceOrder{IdempotencyKey: key, Items: items}
}

func TestPlaceOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001",
		domain.Item{ProductID: bread.ID, Quantity: 1}, domain.Item{ProductID: apple.ID, Quantity: 5}))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	if o.CustomerID != "alice" || o.Status != domain.StatusConfirmed {
		t.Errorf("order customer/status = %q/%v, want alice/CONFIRMED", o.CustomerID, o.Status)
	}
	if diff := cmp.Diff(domain.Money{AmountMinor: 5*120 + 300, CurrencyCode: "EUR"}, o.Total); diff != "" {
		t.Errorf("total mismatch (-want +got):\n%s", diff)
	}
	if o.ID.Version() != 7 {
		t.Errorf("order id %s is UUID version %d, want 7", o.ID, o.ID.Version())
	}
	if got, want := f.cat.stockOf(apple.ID), int64(95); got != want {
		t.Errorf("apple stock = %d, want %d", got, want)
	}
	if diff := cmp.Diff([]string{"placed:" + o.ID.String()}, f.store.eventLog()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestPlaceOrderReplaysSameKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	first, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001",
		domain.Item{ProductID: apple.ID, Quantity: 1}, domain.Item{ProductID: bread.ID, Quantity: 2}))
	if err != nil {
		t.Fatalf("first PlaceOrder: %v", err)
	}
	// Same items in another order: the same request.
	again, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001",
		domain.Item{ProductID: bread.ID, Quantity: 2}, domain.Item{ProductID: apple.ID, Quantity: 1}))
	if err != nil {
		t.Fatalf("repeated PlaceOrder: %v", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("replayed order differs (-first +again):\n%s", diff)
	}
	if calls, active, _ := f.cat.counts(); calls != 1 || active != 1 {
		t.Errorf("catalogue saw %d reserve calls and holds %d reservations, want 1 and 1", calls, active)
	}

	// The same key for another customer is another key.
	other, err := f.svc.PlaceOrder(t.Context(), bob, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 1}))
	if err != nil {
		t.Fatalf("bob's PlaceOrder: %v", err)
	}
	if other.ID == first.ID {
		t.Error("two customers' keys share an order")
	}
}

// While catalogue's breaker is open, PlaceOrder fails at once without
// touching the store: no key is claimed (and freed again), nothing is
// reserved. Once catalogue is back, a retry of an order placed before the
// outage gets its stored answer.
func TestPlaceOrderFailsFastWhileCatalogueIsDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	placed, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 1}))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	down := &domain.CatalogueUnavailableError{Reason: "circuit breaker open", Unsent: true}
	f.cat.mu.Lock()
	f.cat.unavailable = down
	f.cat.mu.Unlock()
	claims := f.store.claims

	for _, key := range []string{"key-0002", "key-0001"} {
		if _, err := f.svc.PlaceOrder(t.Context(), alice, placeReq(key, domain.Item{ProductID: apple.ID, Quantity: 1})); !errors.Is(err, down) {
			t.Errorf("PlaceOrder %s while catalogue is down: %v, want %v", key, err, down)
		}
	}
	if f.store.claims != claims {
		t.Errorf("while down: %d claims, want none", f.store.claims-claims)
	}
	if calls, _, _ := f.cat.counts(); calls != 1 {
		t.Errorf("catalogue saw %d reserve calls, want only the first order's", calls)
	}

	f.cat.mu.Lock()
	f.cat.unavailable = nil
	f.cat.mu.Unlock()
	again, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 1}))
	if err != nil || again.ID != placed.ID {
		t.Errorf("retry after the outage: %v, %v; want order %s", again.ID, err, placed.ID)
	}
}

// An order that fails while pricing reserved nothing and says so; one whose
// reservation call failed may have reserved, and does not claim otherwise.
func TestPlaceOrderTellsWhenNothingWasReserved(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		set     func(*fakeCatalogue, error)
		nothing bool
	}{
		{"pricing fails", func(c *fakeCatalogue, err error) { c.productsErr = err }, true},
		{"reservation fails", func(c *fakeCatalogue, err error) { c.reserveErr = err }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, app.Config{})
			f.cat.mu.Lock()
			tc.set(f.cat, &domain.CatalogueUnavailableError{Reason: "not reachable"})
			f.cat.mu.Unlock()
			_, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 1}))
			unavailable, ok := errors.AsType[*domain.CatalogueUnavailableError](err)
			if !ok || unavailable.NothingReserved != tc.nothing {
				t.Errorf("PlaceOrder: %v (%+v), want catalogue unavailable with NothingReserved %t", err, unavailable, tc.nothing)
			}
		})
	}
}

func TestPlaceOrderConcurrentDuplicatesMakeOneOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	const n = 30
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ids    = map[uuid.UUID]int{}
		failed []error
	)
	for range n {
		wg.Go(func() {
			o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("dup-key-1", domain.Item{ProductID: apple.ID, Quantity: 3}))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, err)
				return
			}
			ids[o.ID]++
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(failed), failed[0])
	}
	if len(ids) != 1 {
		t.Fatalf("got %d distinct order ids, want 1: %v", len(ids), ids)
	}
	if got := f.cat.stockOf(apple.ID); got != 97 {
		t.Errorf("apple stock = %d, want 97 (one reservation)", got)
	}
	if got := len(f.store.eventLog()); got != 1 {
		t.Errorf("%d events, want 1", got)
	}
}

func TestPlaceOrderDuplicatesOnOneReplicaShareTheFirstAttempt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	f.cat.reserveGate = make(chan struct{})
	f.cat.reserveStarted = make(chan struct{}, 1)
	req := placeReq("dup-key-shared", domain.Item{ProductID: apple.ID, Quantity: 2})

	const n = 50
	results := make(chan uuid.UUID, n)
	errs := make(chan error, n)
	call := func() {
		o, err := f.svc.PlaceOrder(t.Context(), alice, req)
		if err != nil {
			errs <- err
			return
		}
		results <- o.ID
	}
	go call()
	<-f.cat.reserveStarted // the first attempt holds the key, stuck in catalogue
	for range n - 1 {
		go call()
	}
	// Long enough for pollers to poll many times (10ms, 20ms, ... 200ms).
	time.Sleep(500 * time.Millisecond)
	close(f.cat.reserveGate)

	ids := map[uuid.UUID]int{}
	for range n {
		select {
		case id := <-results:
			ids[id]++
		case err := <-errs:
			t.Fatalf("duplicate failed: %v", err)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("got %d distinct orders, want 1", len(ids))
	}
	t.Logf("%d duplicates, %d Claim calls", n, f.store.claimCalls())
	// One claim by the first attempt, plus at most a few from callers that
	// had not joined it before it finished; polling would be hundreds.
	if got := f.store.claimCalls(); got > 5 {
		t.Errorf("%d duplicates made %d Claim calls, want at most 5: they should wait for the first attempt, not poll", n, got)
	}
}

func TestPlaceOrderDuplicateRetriesWhenTheFirstCallerGivesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	f.cat.reserveGate = make(chan struct{})
	f.cat.reserveStarted = make(chan struct{}, 2)
	req := placeReq("dup-key-gone", domain.Item{ProductID: apple.ID, Quantity: 1})

	firstCtx, cancelFirst := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := f.svc.PlaceOrder(firstCtx, alice, req)
		first <- err
	}()
	<-f.cat.reserveStarted
	second := make(chan error, 1)
	var secondOrder domain.Order
	go func() {
		var err error
		secondOrder, err = f.svc.PlaceOrder(t.Context(), alice, req)
		second <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the second join the first
	cancelFirst()
	if err := <-first; err == nil {
		t.Fatal("the cancelled first caller got an order")
	}
	// The second caller's own attempt reaches catalogue; let it through.
	<-f.cat.reserveStarted
	close(f.cat.reserveGate)
	if err := <-second; err != nil {
		t.Fatalf("second caller, still waiting, failed with the first's error: %v", err)
	}
	if secondOrder.Status != domain.StatusConfirmed {
		t.Errorf("second caller's order status = %v, want CONFIRMED", secondOrder.Status)
	}
}

func TestPlaceOrderRejectsReusedKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	if _, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 1})); err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	_, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 2}))
	if !errors.Is(err, domain.ErrIdempotencyMismatch) {
		t.Errorf("reused key error = %v, want ErrIdempotencyMismatch", err)
	}
	// An admin acting for alice with the same key and body is the same request.
	o, err := f.svc.PlaceOrder(t.Context(), admin, app.PlaceOrder{
		IdempotencyKey: "key-0001", CustomerID: "alice", Items: []domain.Item{{ProductID: apple.ID, Quantity: 1}},
	})
	if err != nil || o.CustomerID != "alice" {
		t.Errorf("admin replay = %v, %v; want alice's order", o.CustomerID, err)
	}
}

func TestPlaceOrderFailuresFreeTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		items   []domain.Item
		breakIt func(f fixture)
		fixIt   func(f fixture)
		want    error
	}{
		{
			name:    "insufficient stock",
			items:   []domain.Item{{ProductID: apple.ID, Quantity: 7}},
			breakIt: func(f fixture) { f.cat.setStock(apple.ID, 5) },
			fixIt:   func(f fixture) { f.cat.setStock(apple.ID, 10) },
			want:    domain.ErrInsufficientStock,
		},
		{
			name:    "catalogue unavailable",
			items:   []domain.Item{{ProductID: apple.ID, Quantity: 1}},
			breakIt: func(f fixture) { f.cat.productsErr = &domain.CatalogueUnavailableError{Reason: "circuit breaker open"} },
			fixIt:   func(f fixture) { f.cat.productsErr = nil },
			want:    domain.ErrCatalogueUnavailable,
		},
		{
			name:    "mixed currencies",
			items:   []domain.Item{{ProductID: apple.ID, Quantity: 1}, {ProductID: gum.ID, Quantity: 1}},
			breakIt: func(fixture) {},
			fixIt: func(f fixture) {
				p := f.cat.products[gum.ID]
				p.Price.CurrencyCode = "EUR"
				f.cat.products[gum.ID] = p
			},
			want: domain.ErrFailedPrecondition,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, app.Config{})
			tc.breakIt(f)
			_, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("retry-key", tc.items...))
			if !errors.Is(err, tc.want) {
				t.Fatalf("PlaceOrder error = %v, want %v", err, tc.want)
			}
			if _, active, _ := f.cat.counts(); active != 0 {
				t.Errorf("%d reservations left behind", active)
			}
			tc.fixIt(f)
			if _, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("retry-key", tc.items...)); err != nil {
				t.Errorf("retry with the same key: %v", err)
			}
		})
	}
}

func TestPlaceOrderStoreFailureReleasesReservation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	f.store.createErr = errors.New("database is on fire")
	_, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 4}))
	if err == nil {
		t.Fatal("PlaceOrder succeeded with a failing store")
	}
	_, active, released := f.cat.counts()
	if active != 0 || len(released) != 1 {
		t.Errorf("after a failed commit: %d active reservations, %d releases; want 0 and 1", active, len(released))
	}
	if got := f.cat.stockOf(apple.ID); got != 100 {
		t.Errorf("apple stock = %d, want 100", got)
	}
	f.store.createErr = nil
	o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 4}))
	if err != nil {
		t.Fatalf("retry after the store recovered: %v", err)
	}
	if o.ID == released[0] {
		t.Error("retry reused the released reservation's id")
	}
}

func TestPlaceOrderAmbiguousReserveIsReleased(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	// Catalogue reserved, but the answer was lost.
	f.cat.reserveErr = &domain.CatalogueUnavailableError{Reason: "timed out"}
	_, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 4}))
	if !errors.Is(err, domain.ErrCatalogueUnavailable) {
		t.Fatalf("PlaceOrder error = %v, want ErrCatalogueUnavailable", err)
	}
	if _, active, _ := f.cat.counts(); active != 0 {
		t.Errorf("%d reservations left behind", active)
	}
	if len(f.store.eventLog()) != 0 {
		t.Error("an order was stored without a confirmed reservation")
	}
}

func TestPlaceOrderDuplicateWaitsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{DuplicateWait: 50 * time.Millisecond})
	// Another attempt holds the key and never finishes.
	_, claimed, _, err := f.store.Claim(t.Context(), app.Claim{
		CustomerID: "alice", Key: "stuck-key", OrderID: uuid.New(), Lease: time.Hour, TTL: time.Hour,
		RequestHash: mustHash(t, "stuck-key", "alice", domain.Item{ProductID: apple.ID, Quantity: 1}),
	})
	if err != nil || !claimed {
		t.Fatalf("claim: %v, %t", err, claimed)
	}
	_, err = f.svc.PlaceOrder(t.Context(), alice, placeReq("stuck-key", domain.Item{ProductID: apple.ID, Quantity: 1}))
	if !errors.Is(err, domain.ErrRequestInProgress) {
		t.Errorf("PlaceOrder error = %v, want ErrRequestInProgress", err)
	}
}

// The caller whose attempt it is waits past DuplicateWait for a slow
// database and gets the attempt's own answer; a duplicate that arrives
// meanwhile gives up after DuplicateWait with ErrRequestInProgress.
func TestPlaceOrderSlowAttemptAnswersItsOwnCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{DuplicateWait: 50 * time.Millisecond})
	f.store.claimGate, f.store.claimStarted = make(chan struct{}), make(chan struct{}, 1)
	req := placeReq("slow-key", domain.Item{ProductID: apple.ID, Quantity: 1})
	type result struct {
		o   domain.Order
		err error
	}
	first := make(chan result, 1)
	go func() {
		o, err := f.svc.PlaceOrder(t.Context(), alice, req)
		first <- result{o, err}
	}()
	<-f.store.claimStarted
	if _, err := f.svc.PlaceOrder(t.Context(), alice, req); !errors.Is(err, domain.ErrRequestInProgress) {
		t.Errorf("duplicate during a slow attempt: %v, want ErrRequestInProgress", err)
	}
	select {
	case r := <-first:
		t.Fatalf("the slow attempt's caller gave up at DuplicateWait: %v", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	close(f.store.claimGate)
	r := <-first
	if r.err != nil || r.o.Status != domain.StatusConfirmed {
		t.Errorf("slow attempt: %v %v, want a confirmed order", r.o.Status, r.err)
	}
}

func TestPlaceOrderCustomer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		caller   app.Caller
		customer string
		want     string
		wantErr  error
	}{
		{name: "defaults to caller", caller: alice, want: "alice"},
		{name: "own id", caller: alice, customer: "alice", want: "alice"},
		{name: "another customer", caller: alice, customer: "bob", wantErr: domain.ErrPermissionDenied},
		{name: "admin for a customer", caller: admin, customer: "bob", want: "bob"},
		{name: "no identity", caller: app.Caller{}, wantErr: domain.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, app.Config{})
			o, err := f.svc.PlaceOrder(t.Context(), tc.caller, app.PlaceOrder{
				IdempotencyKey: "key-0001", CustomerID: tc.customer, Items: []domain.Item{{ProductID: apple.ID, Quantity: 1}},
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("PlaceOrder error = %v, want %v", err, tc.wantErr)
			}
			if o.CustomerID != tc.want {
				t.Errorf("customer = %q, want %q", o.CustomerID, tc.want)
			}
		})
	}
}

func TestGetOrderHidesOtherCustomers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 1}))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	if got, err := f.svc.GetOrder(t.Context(), alice, o.ID); err != nil || got.ID != o.ID {
		t.Errorf("owner GetOrder = %v, %v", got.ID, err)
	}
	if got, err := f.svc.GetOrder(t.Context(), admin, o.ID); err != nil || got.ID != o.ID {
		t.Errorf("admin GetOrder = %v, %v", got.ID, err)
	}
	_, errOther := f.svc.GetOrder(t.Context(), bob, o.ID)
	_, errMissing := f.svc.GetOrder(t.Context(), bob, uuid.New())
	if !errors.Is(errOther, domain.ErrNotFound) || !errors.Is(errMissing, domain.ErrNotFound) {
		t.Errorf("GetOrder of another's order = %v, of a missing one = %v; want both not found", errOther, errMissing)
	}
	if _, err := f.svc.CancelOrder(t.Context(), bob, o.ID, ""); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("bob cancelling alice's order: %v, want not found", err)
	}
	if got, _ := f.svc.GetOrder(t.Context(), alice, o.ID); got.Status != domain.StatusConfirmed {
		t.Errorf("status after bob's attempt = %v, want CONFIRMED", got.Status)
	}
}

func TestListOrdersPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	var placed []domain.Order
	for i := range 7 {
		o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("list-key-"+string(rune('a'+i)), domain.Item{ProductID: apple.ID, Quantity: 1}))
		if err != nil {
			t.Fatalf("PlaceOrder %d: %v", i, err)
		}
		placed = append(placed, o)
	}
	if _, err := f.svc.PlaceOrder(t.Context(), bob, placeReq("bob-key-1", domain.Item{ProductID: apple.ID, Quantity: 1})); err != nil {
		t.Fatalf("bob's PlaceOrder: %v", err)
	}

	var (
		got   []domain.Order
		token string
		pages int
	)
	for pages = 1; pages <= 10; pages++ {
		page, err := f.svc.ListOrders(t.Context(), alice, app.ListOrders{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatalf("ListOrders page %d: %v", pages, err)
		}
		if len(page.Orders) > 3 {
			t.Fatalf("page %d has %d orders, want at most 3", pages, len(page.Orders))
		}
		got = append(got, page.Orders...)
		token = page.NextPageToken
		if token == "" {
			break
		}
	}
	if pages != 3 {
		t.Errorf("took %d pages, want 3", pages)
	}
	if diff := cmp.Diff(sortedIDs(placed), sortedIDs(got)); diff != "" {
		t.Errorf("listed orders mismatch (-placed +listed):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].CreatedAt.After(got[i-1].CreatedAt) {
			t.Errorf("order %d is newer than order %d: not newest first", i, i-1)
		}
	}
}

func TestListOrdersAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	for i := range 3 {
		if _, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("acc-key-"+string(rune('a'+i)), domain.Item{ProductID: apple.ID, Quantity: 1})); err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
	}
	if _, err := f.svc.ListOrders(t.Context(), bob, app.ListOrders{CustomerID: "alice"}); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Errorf("bob listing alice: %v, want permission denied", err)
	}
	page, err := f.svc.ListOrders(t.Context(), admin, app.ListOrders{CustomerID: "alice", PageSize: 2})
	if err != nil || len(page.Orders) != 2 || page.NextPageToken == "" {
		t.Fatalf("admin listing alice = %d orders, token %q, %v", len(page.Orders), page.NextPageToken, err)
	}
	// A token is bound to the listing it came from.
	if _, err := f.svc.ListOrders(t.Context(), bob, app.ListOrders{PageToken: page.NextPageToken}); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("alice's token used for bob's listing: %v, want invalid argument", err)
	}
	for _, bad := range []string{"garbage!", "e30", "eyJjIjoiYWxpY2UifQ"} {
		if _, err := f.svc.ListOrders(t.Context(), alice, app.ListOrders{PageToken: bad}); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("token %q: %v, want invalid argument", bad, err)
		}
	}
	if page, err := f.svc.ListOrders(t.Context(), bob, app.ListOrders{}); err != nil || len(page.Orders) != 0 {
		t.Errorf("bob's own listing = %d orders, %v; want 0", len(page.Orders), err)
	}
}

func TestCancelOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 1}))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	first, err := f.svc.CancelOrder(t.Context(), alice, o.ID, "changed my mind")
	if err != nil {
		t.Fatalf("CancelOrder: %v", err)
	}
	if first.Status != domain.StatusCancelled || first.CancelledAt.IsZero() {
		t.Errorf("cancelled order = %+v", first)
	}
	second, err := f.svc.CancelOrder(t.Context(), alice, o.ID, "again")
	if err != nil {
		t.Fatalf("second CancelOrder: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second cancel changed the order (-first +second):\n%s", diff)
	}
	want := []string{"placed:" + o.ID.String(), "cancelled:" + o.ID.String()}
	if diff := cmp.Diff(want, f.store.eventLog()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	if _, err := f.svc.CancelOrder(t.Context(), alice, uuid.New(), ""); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("cancel unknown order: %v, want not found", err)
	}
}

func TestSweepKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{SweepBatch: 2})
	for i := range 5 {
		_, _, _, err := f.store.Claim(t.Context(), app.Claim{
			CustomerID: "alice", Key: "old-" + string(rune('a'+i)), OrderID: uuid.New(), Lease: time.Hour, TTL: -time.Second,
		})
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
	}
	n, err := f.svc.SweepKeys(t.Context())
	if err != nil || n != 5 {
		t.Errorf("SweepKeys = %d, %v; want 5, nil", n, err)
	}
}
