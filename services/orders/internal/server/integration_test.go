package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/storefront-go/storefront/libs/broker"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

func TestPlacedOrderIsStoredAndPublishedOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{})
	apple := s.createProduct("Apple", 250, 10)
	bread := s.createProduct("Bread", 100, 5)
	alice := s.customer()

	placed, err := alice.place(t.Context(), newKey(), item(bread, 2), item(apple, 3))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	wantLines := []*ordersv1.OrderLine{
		{ProductId: apple.GetId(), Sku: apple.GetSku(), Name: "Apple", Quantity: 3,
			UnitPrice: &ordersv1.Money{AmountMinor: 250, CurrencyCode: "EUR"}, LineTotal: &ordersv1.Money{AmountMinor: 750, CurrencyCode: "EUR"}},
		{ProductId: bread.GetId(), Sku: bread.GetSku(), Name: "Bread", Quantity: 2,
			UnitPrice: &ordersv1.Money{AmountMinor: 100, CurrencyCode: "EUR"}, LineTotal: &ordersv1.Money{AmountMinor: 200, CurrencyCode: "EUR"}},
	}
	if apple.GetId() > bread.GetId() {
		wantLines[0], wantLines[1] = wantLines[1], wantLines[0]
	}
	want := &ordersv1.Order{
		Id:         placed.GetId(),
		CustomerId: alice.id,
		Status:     ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED,
		Lines:      wantLines,
		Total:      &ordersv1.Money{AmountMinor: 950, CurrencyCode: "EUR"},
		CreatedAt:  placed.GetCreatedAt(),
		UpdatedAt:  placed.GetCreatedAt(),
	}
	if diff := cmp.Diff(want, placed, protocmp.Transform()); diff != "" {
		t.Errorf("placed order mismatch (-want +got):\n%s", diff)
	}

	got, err := alice.get(t.Context(), placed.GetId())
	if err != nil {
		t.Fatalf("GetOrder: %v", err)
	}
	if diff := cmp.Diff(placed, got, protocmp.Transform()); diff != "" {
		t.Errorf("GetOrder differs from PlaceOrder's answer (-placed +got):\n%s", diff)
	}
	listed, err := alice.list(t.Context(), &ordersv1.ListOrdersRequest{})
	if err != nil || len(listed) != 1 || listed[0].GetId() != placed.GetId() {
		t.Errorf("ListOrders = %d orders, %v; want the placed order", len(listed), err)
	}

	if got := s.stockOf(apple.GetId()); got != 7 {
		t.Errorf("apple stock = %d, want 7", got)
	}
	if got := s.stockOf(bread.GetId()); got != 3 {
		t.Errorf("bread stock = %d, want 3", got)
	}
	if got := s.queryInt(`SELECT count(*) FROM order_lines WHERE order_id = $1`, placed.GetId()); got != 2 {
		t.Errorf("stored %d order lines, want 2", got)
	}
	if got := s.queryInt(`SELECT count(*) FROM idempotency_keys WHERE order_id = $1 AND state = 'COMPLETED'`, placed.GetId()); got != 1 {
		t.Errorf("completed idempotency keys for the order = %d, want 1", got)
	}

	// Once the outbox is drained, the stream holds the event exactly once.
	eventually(t, "the outbox to drain", func() bool { return s.pendingEvents() == 0 })
	msgs := ordersMessages(t, s.jetStream(), "orders.order.placed", placed.GetId())
	if len(msgs) != 1 {
		t.Fatalf("ORDERS holds %d OrderPlaced events for the order, want 1", len(msgs))
	}
	if got := msgs[0].header.Get(broker.HeaderType); got != "orders.v1.OrderPlaced" {
		t.Errorf("event type header = %q", got)
	}
	var event ordersv1.OrderPlaced
	if err := proto.Unmarshal(msgs[0].data, &event); err != nil {
		t.Fatalf("decode OrderPlaced: %v", err)
	}
	wantEvent := &ordersv1.OrderPlaced{
		OrderId: placed.GetId(), CustomerId: alice.id, Lines: wantLines, Total: want.GetTotal(), OccurredAt: placed.GetCreatedAt(),
	}
	if diff := cmp.Diff(wantEvent, &event, protocmp.Transform()); diff != "" {
		t.Errorf("OrderPlaced mismatch (-want +got):\n%s", diff)
	}

	t.Run("no unconfirmed reservations counted", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.orders.AdminAddr()+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read metrics: %v", err)
		}
		if want := "\nstorefront_orders_unconfirmed_reservations_total 0\n"; !strings.Contains(string(raw), want) {
			t.Errorf("metrics do not hold %q", strings.TrimSpace(want))
		}
	})

	t.Run("Connect JSON over HTTP", func(t *testing.T) {
		body := fmt.Sprintf(`{"orderId":%q}`, placed.GetId())
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
			"http://"+s.orders.HTTPAddr()+"/orders.v1.OrderService/GetOrder", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		// Without it vanguard takes a JSON POST for REST transcoding.
		req.Header.Set("Connect-Protocol-Version", "1")
		req.Header.Set("Authorization", s.auth.Bearer(alice.id, "customer"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST GetOrder: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %s: %s", resp.Status, raw)
		}
		var out struct {
			Order struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"order"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		if out.Order.ID != placed.GetId() || out.Order.Status != "ORDER_STATUS_CONFIRMED" {
			t.Errorf("Connect GetOrder = %s", raw)
		}
	})
}

func TestConcurrentDuplicatesMakeOneOrder(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{})
	apple := s.createProduct("Apple", 250, 100)
	alice := s.customer()
	key := newKey()

	const n = 50
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		responses []*ordersv1.Order
		errs      []error
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			o, err := alice.place(t.Context(), key, item(apple, 3))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			responses = append(responses, o)
		})
	}
	close(start)
	wg.Wait()

	if len(errs) > 0 {
		t.Fatalf("%d of %d calls failed; first: %v", len(errs), n, errs[0])
	}
	for i, o := range responses {
		if diff := cmp.Diff(responses[0], o, protocmp.Transform()); diff != "" {
			t.Fatalf("response %d differs from response 0 (-0 +%d):\n%s", i, i, diff)
		}
	}
	if got := s.queryInt(`SELECT count(*) FROM orders WHERE customer_id = $1`, alice.id); got != 1 {
		t.Errorf("stored %d orders, want 1", got)
	}
	if got := s.stockOf(apple.GetId()); got != 97 {
		t.Errorf("apple stock = %d, want 97 (exactly one reservation)", got)
	}
	eventually(t, "the outbox to drain", func() bool { return s.pendingEvents() == 0 })
	if msgs := ordersMessages(t, s.jetStream(), "orders.order.placed", responses[0].GetId()); len(msgs) != 1 {
		t.Errorf("ORDERS holds %d OrderPlaced events, want 1", len(msgs))
	}
}

func TestSameKeyDifferentBodyIsRejected(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{})
	apple := s.createProduct("Apple", 250, 100)
	bread := s.createProduct("Bread", 100, 100)
	alice := s.customer()
	key := newKey()

	first, err := alice.place(t.Context(), key, item(apple, 1), item(bread, 1))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	// The same items in another order are the same request.
	again, err := alice.place(t.Context(), key, item(bread, 1), item(apple, 1))
	if err != nil {
		t.Fatalf("repeat with items reordered: %v", err)
	}
	if diff := cmp.Diff(first, again, protocmp.Transform()); diff != "" {
		t.Errorf("repeat differs (-first +again):\n%s", diff)
	}

	_, err = alice.place(t.Context(), key, item(apple, 2), item(bread, 1))
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "idempotency key reused with a different request") {
		t.Errorf("same key, other quantity: %v; want FAILED_PRECONDITION naming the reused key", err)
	}
	_, err = alice.place(t.Context(), key, item(apple, 1))
	if code(err) != codes.FailedPrecondition {
		t.Errorf("same key, fewer items: %v; want FAILED_PRECONDITION", err)
	}
	if got := s.queryInt(`SELECT count(*) FROM orders WHERE customer_id = $1`, alice.id); got != 1 {
		t.Errorf("stored %d orders, want 1", got)
	}
	if got := s.stockOf(apple.GetId()); got != 99 {
		t.Errorf("apple stock = %d, want 99", got)
	}

	// Keys are scoped to the customer: bob's identical key is his own.
	bob := s.customer()
	bobs, err := bob.place(t.Context(), key, item(apple, 2))
	if err != nil {
		t.Fatalf("bob's PlaceOrder with alice's key: %v", err)
	}
	if bobs.GetId() == first.GetId() {
		t.Error("bob got alice's order")
	}
}

func TestInsufficientStockLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{})
	apple := s.createProduct("Apple", 250, 100)
	scarce := s.createProduct("Truffle", 9000, 5)
	alice := s.customer()
	key := newKey()

	_, err := alice.place(t.Context(), key, item(apple, 1), item(scarce, 6))
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), scarce.GetId()) {
		t.Fatalf("PlaceOrder over stock: %v; want FAILED_PRECONDITION naming %s", err, scarce.GetId())
	}
	if got := s.stockOf(scarce.GetId()); got != 5 {
		t.Errorf("truffle stock = %d, want 5", got)
	}
	if got := s.stockOf(apple.GetId()); got != 100 {
		t.Errorf("apple stock = %d, want 100 (all or nothing)", got)
	}
	if orders, err := alice.list(t.Context(), &ordersv1.ListOrdersRequest{}); err != nil || len(orders) != 0 {
		t.Errorf("ListOrders = %d orders, %v; want none", len(orders), err)
	}
	if got := s.queryInt(`SELECT count(*) FROM orders`); got != 0 {
		t.Errorf("stored %d orders, want 0", got)
	}
	if got := s.queryInt(`SELECT count(*) FROM idempotency_keys`); got != 0 {
		t.Errorf("%d idempotency keys left, want 0", got)
	}
	if got := s.pendingEvents(); got != 0 {
		t.Errorf("%d events enqueued, want 0", got)
	}

	unknown := &cataloguev1.Product{Id: "0190a0e8-0000-7000-8000-00000000dead"}
	_, err = alice.place(t.Context(), newKey(), item(apple, 1), item(unknown, 1))
	if code(err) != codes.NotFound || !strings.Contains(err.Error(), unknown.GetId()) {
		t.Errorf("PlaceOrder of an unknown product: %v; want NOT_FOUND naming it", err)
	}

	// The failed attempt did not poison the key: after a restock it works.
	if _, err := s.catalogue.AdjustStock(t.Context(), &cataloguev1.AdjustStockRequest{
		ProductId: scarce.GetId(), Delta: 5, Reason: "restock",
	}, s.auth.As("seeder", "admin")); err != nil {
		t.Fatalf("restock: %v", err)
	}
	if _, err := alice.place(t.Context(), key, item(apple, 1), item(scarce, 6)); err != nil {
		t.Fatalf("retry with the same key after restock: %v", err)
	}
	if got := s.stockOf(scarce.GetId()); got != 4 {
		t.Errorf("truffle stock after the order = %d, want 4", got)
	}
}

func TestCatalogueOutageOpensBreakerAndRecovers(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{ordersEnv: map[string]string{
		"CATALOGUE_TIMEOUT":               "1s",
		"CATALOGUE_MAX_ATTEMPTS":          "2",
		"CATALOGUE_BREAKER_MIN_REQUESTS":  "3",
		"CATALOGUE_BREAKER_FAILURE_RATIO": "0.5",
		"CATALOGUE_BREAKER_OPEN_TIMEOUT":  "2s",
	}})
	apple := s.createProduct("Apple", 250, 100)
	alice := s.customer()
	before, err := alice.place(t.Context(), newKey(), item(apple, 2))
	if err != nil {
		t.Fatalf("PlaceOrder before the outage: %v", err)
	}

	s.cat.Kill()

	// Calls fail with UNAVAILABLE naming catalogue until the breaker
	// opens; then they are rejected without reaching for catalogue.
	opened := false
	for i := 0; i < 30 && !opened; i++ {
		_, err := alice.place(t.Context(), newKey(), item(apple, 1))
		if code(err) != codes.Unavailable || !strings.Contains(err.Error(), "catalogue unavailable") {
			t.Fatalf("PlaceOrder %d during the outage: %v; want UNAVAILABLE naming catalogue", i, err)
		}
		opened = strings.Contains(err.Error(), "circuit breaker open")
	}
	if !opened {
		t.Fatal("the breaker did not open after 30 failed calls")
	}
	_, err = alice.place(t.Context(), newKey(), item(apple, 1))
	if code(err) != codes.Unavailable || !strings.Contains(err.Error(), "catalogue unavailable: circuit breaker open") {
		t.Errorf("PlaceOrder with the breaker open: %v; want UNAVAILABLE, circuit breaker open", err)
	}

	// Reads don't need catalogue.
	if got, err := alice.get(t.Context(), before.GetId()); err != nil || got.GetId() != before.GetId() {
		t.Errorf("GetOrder during the outage = %v, %v", got.GetId(), err)
	}
	if orders, err := alice.list(t.Context(), &ordersv1.ListOrdersRequest{}); err != nil || len(orders) != 1 {
		t.Errorf("ListOrders during the outage = %d orders, %v; want 1", len(orders), err)
	}

	s.cat.Start()
	var after *ordersv1.Order
	eventually(t, "PlaceOrder to succeed after catalogue returned", func() bool {
		o, err := alice.place(t.Context(), newKey(), item(apple, 5))
		if err != nil && code(err) != codes.Unavailable {
			t.Fatalf("PlaceOrder after the restart: %v; want success or UNAVAILABLE", err)
		}
		after = o
		return err == nil
	})

	// Every confirmed order holds a reservation and nothing else does:
	// the stock went down by exactly the confirmed quantities.
	orders, err := alice.list(t.Context(), &ordersv1.ListOrdersRequest{})
	if err != nil {
		t.Fatalf("ListOrders: %v", err)
	}
	var ids []string
	var reserved int64
	for _, o := range orders {
		ids = append(ids, o.GetId())
		if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
			t.Errorf("order %s is %s", o.GetId(), o.GetStatus())
		}
		for _, l := range o.GetLines() {
			reserved += int64(l.GetQuantity())
		}
	}
	if diff := cmp.Diff([]string{after.GetId(), before.GetId()}, ids); diff != "" {
		t.Errorf("orders after the outage (-want +got):\n%s", diff)
	}
	if got := s.stockOf(apple.GetId()); got != 100-reserved {
		t.Errorf("apple stock = %d, want %d (100 minus the confirmed orders' %d)", got, 100-reserved, reserved)
	}
}

func TestNATSOutageDelaysEventsOnly(t *testing.T) {
	t.Parallel()
	natsSrv := testenv.EmbeddedNATS(t)
	s := newStack(t, options{natsURL: natsSrv.URL()})
	apple := s.createProduct("Apple", 250, 100)
	alice := s.customer()
	js := s.jetStream()

	natsSrv.Shutdown()
	during, err := alice.place(t.Context(), newKey(), item(apple, 2))
	if err != nil {
		t.Fatalf("PlaceOrder with NATS down: %v", err)
	}
	if got, err := alice.get(t.Context(), during.GetId()); err != nil || got.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Errorf("GetOrder with NATS down = %v, %v", got.GetStatus(), err)
	}
	if got := s.pendingEvents(); got != 1 {
		t.Errorf("pending events with NATS down = %d, want 1", got)
	}
	// OrderPlaced cannot reach catalogue, yet the reservation is confirmed:
	// orders confirmed it as it placed the order. A repeated ReserveStock
	// returns the stored reservation.
	res, err := s.catalogue.ReserveStock(t.Context(), &cataloguev1.ReserveStockRequest{
		ReservationId: during.GetId(), Items: []*cataloguev1.ReservationItem{{ProductId: apple.GetId(), Quantity: 2}},
	}, s.auth.As("inspector", "service"))
	if err != nil {
		t.Fatalf("read the reservation back: %v", err)
	}
	if got := res.GetReservation().GetStatus(); got != cataloguev1.ReservationStatus_RESERVATION_STATUS_CONFIRMED {
		t.Errorf("reservation of the order placed with NATS down = %v, want CONFIRMED", got)
	}
	if got := s.stockOf(apple.GetId()); got != 98 {
		t.Errorf("apple stock = %d, want 98", got)
	}
	// The relay keeps trying while NATS is away.
	eventually(t, "a failed publish attempt", func() bool {
		return s.queryInt(`SELECT COALESCE(max(attempts), 0) FROM outbox_events`) >= 1
	})

	natsSrv.Restart(t)
	eventually(t, "the outbox to drain after NATS returned", func() bool { return s.pendingEvents() == 0 })
	eventually(t, "the stream to be readable", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := js.Stream(ctx, "ORDERS")
		return err == nil
	})
	if msgs := ordersMessages(t, js, "orders.order.placed", during.GetId()); len(msgs) != 1 {
		t.Errorf("ORDERS holds %d OrderPlaced events for the order placed during the outage, want 1", len(msgs))
	}
}

func TestCustomerCannotSeeAnothersOrders(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{})
	apple := s.createProduct("Apple", 250, 100)
	alice, bob, ops := s.customer(), s.customer(), s.admin()
	order, err := alice.place(t.Context(), newKey(), item(apple, 1))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}

	_, errOther := bob.get(t.Context(), order.GetId())
	_, errMissing := bob.get(t.Context(), "0190a0e8-0000-7000-8000-00000000beef")
	if code(errOther) != codes.NotFound || code(errMissing) != codes.NotFound {
		t.Errorf("bob's GetOrder of alice's order = %v, of a missing one = %v; want NOT_FOUND for both", errOther, errMissing)
	}
	if _, err := bob.client.CancelOrder(t.Context(), &ordersv1.CancelOrderRequest{OrderId: order.GetId()}, bob.creds); code(err) != codes.NotFound {
		t.Errorf("bob's CancelOrder of alice's order: %v; want NOT_FOUND", err)
	}
	if _, err := bob.list(t.Context(), &ordersv1.ListOrdersRequest{CustomerId: alice.id}); code(err) != codes.PermissionDenied {
		t.Errorf("bob listing alice's orders: %v; want PERMISSION_DENIED", err)
	}
	if orders, err := bob.list(t.Context(), &ordersv1.ListOrdersRequest{}); err != nil || len(orders) != 0 {
		t.Errorf("bob's own list = %d orders, %v; want none", len(orders), err)
	}
	_, err = bob.client.PlaceOrder(t.Context(), &ordersv1.PlaceOrderRequest{
		IdempotencyKey: newKey(), CustomerId: alice.id, Items: []*ordersv1.OrderItem{item(apple, 1)},
	}, bob.creds)
	if code(err) != codes.PermissionDenied {
		t.Errorf("bob placing an order for alice: %v; want PERMISSION_DENIED", err)
	}
	if got, err := alice.get(t.Context(), order.GetId()); err != nil || got.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Errorf("alice's order after bob's attempts = %v, %v; want CONFIRMED", got.GetStatus(), err)
	}

	if got, err := ops.get(t.Context(), order.GetId()); err != nil || got.GetCustomerId() != alice.id {
		t.Errorf("admin GetOrder = %v, %v", got.GetCustomerId(), err)
	}
	if orders, err := ops.list(t.Context(), &ordersv1.ListOrdersRequest{CustomerId: alice.id}); err != nil || len(orders) != 1 {
		t.Errorf("admin listing alice = %d orders, %v; want 1", len(orders), err)
	}
	// An admin who names no customer reads every customer's orders.
	bobs, err := bob.place(t.Context(), newKey(), item(apple, 1))
	if err != nil {
		t.Fatalf("bob's PlaceOrder: %v", err)
	}
	all, err := ops.list(t.Context(), &ordersv1.ListOrdersRequest{})
	if err != nil {
		t.Fatalf("admin listing everyone: %v", err)
	}
	var listed []string
	for _, o := range all {
		listed = append(listed, o.GetId())
	}
	if diff := cmp.Diff([]string{bobs.GetId(), order.GetId()}, listed); diff != "" {
		t.Errorf("admin listing everyone (-want newest first +got):\n%s", diff)
	}
	if _, err := alice.client.GetOrder(t.Context(), &ordersv1.GetOrderRequest{OrderId: order.GetId()}); code(err) != codes.Unauthenticated {
		t.Errorf("GetOrder without a token: %v; want UNAUTHENTICATED", err)
	}
}

// Orders serve customers (and admins): a valid token of any other role,
// such as the service identity orders itself uses towards catalogue, is
// refused.
func TestOnlyCustomersAndAdminsMayCall(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{})
	apple := s.createProduct("Apple", 250, 100)
	client := s.ordersClient()
	tests := []struct {
		name  string
		roles []string
		want  codes.Code
	}{
		{name: "service", roles: []string{"service"}, want: codes.PermissionDenied},
		{name: "no role", want: codes.PermissionDenied},
		{name: "customer", roles: []string{"customer"}, want: codes.OK},
		{name: "admin", roles: []string{"admin"}, want: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := s.auth.As("caller-"+tt.name, tt.roles...)
			_, err := client.PlaceOrder(t.Context(), &ordersv1.PlaceOrderRequest{
				IdempotencyKey: newKey(), Items: []*ordersv1.OrderItem{item(apple, 1)},
			}, creds)
			if code(err) != tt.want {
				t.Errorf("PlaceOrder as %s: %v; want %v", tt.name, err, tt.want)
			}
			if _, err := client.ListOrders(t.Context(), &ordersv1.ListOrdersRequest{}, creds); code(err) != tt.want {
				t.Errorf("ListOrders as %s: %v; want %v", tt.name, err, tt.want)
			}
		})
	}
	// The refused calls reserved nothing; the two accepted ones one each.
	if got := s.stockOf(apple.GetId()); got != 98 {
		t.Errorf("apple stock = %d, want 98", got)
	}
}

func TestListOrdersPagesNewestFirst(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{})
	apple := s.createProduct("Apple", 250, 100)
	alice := s.customer()
	var placed []string
	for range 5 {
		o, err := alice.place(t.Context(), newKey(), item(apple, 1))
		if err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		placed = append([]string{o.GetId()}, placed...) // newest first
	}
	var (
		listed []string
		token  string
	)
	for page := range 10 {
		resp, err := alice.client.ListOrders(t.Context(), &ordersv1.ListOrdersRequest{PageSize: 2, PageToken: token}, alice.creds)
		if err != nil {
			t.Fatalf("ListOrders page %d: %v", page, err)
		}
		for _, o := range resp.GetOrders() {
			listed = append(listed, o.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if diff := cmp.Diff(placed, listed); diff != "" {
		t.Errorf("listed orders (-want newest first +got):\n%s", diff)
	}
	_, err := alice.client.ListOrders(t.Context(), &ordersv1.ListOrdersRequest{PageToken: "bm90LWEtdG9rZW4"}, alice.creds)
	if code(err) != codes.InvalidArgument {
		t.Errorf("ListOrders with a bad token: %v; want INVALID_ARGUMENT", err)
	}
}

func TestCancelReleasesStockOnce(t *testing.T) {
	t.Parallel()
	// Its own NATS: catalogue's durable consumers must not be shared with
	// other tests' catalogues.
	s := newStack(t, options{natsURL: testenv.EmbeddedNATS(t).URL()})
	apple := s.createProduct("Apple", 250, 10)
	alice := s.customer()
	order, err := alice.place(t.Context(), newKey(), item(apple, 4))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	if got := s.stockOf(apple.GetId()); got != 6 {
		t.Fatalf("stock after placing = %d, want 6", got)
	}

	req := &ordersv1.CancelOrderRequest{OrderId: order.GetId(), Reason: "changed my mind"}
	first, err := alice.client.CancelOrder(t.Context(), req, alice.creds)
	if err != nil {
		t.Fatalf("CancelOrder: %v", err)
	}
	if first.GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED || first.GetOrder().GetCancelledAt() == nil {
		t.Errorf("cancelled order = %v", first.GetOrder())
	}
	second, err := alice.client.CancelOrder(t.Context(), req, alice.creds)
	if err != nil {
		t.Fatalf("second CancelOrder: %v", err)
	}
	if diff := cmp.Diff(first, second, protocmp.Transform()); diff != "" {
		t.Errorf("second cancel changed the order (-first +second):\n%s", diff)
	}
	if _, err := alice.client.CancelOrder(t.Context(), &ordersv1.CancelOrderRequest{OrderId: "0190a0e8-0000-7000-8000-00000000beef"}, alice.creds); code(err) != codes.NotFound {
		t.Errorf("cancel of an unknown order: %v; want NOT_FOUND", err)
	}

	js := s.jetStream()
	eventually(t, "the outbox to drain", func() bool { return s.pendingEvents() == 0 })
	msgs := ordersMessages(t, js, "orders.order.cancelled", order.GetId())
	if len(msgs) != 1 {
		t.Fatalf("ORDERS holds %d OrderCancelled events, want 1", len(msgs))
	}
	var event ordersv1.OrderCancelled
	if err := proto.Unmarshal(msgs[0].data, &event); err != nil {
		t.Fatalf("decode OrderCancelled: %v", err)
	}
	if event.GetReason() != "changed my mind" || len(event.GetLines()) != 1 || event.GetLines()[0].GetQuantity() != 4 {
		t.Errorf("OrderCancelled = %v", &event)
	}

	// Releasing the stock is catalogue's part: it consumes OrderCancelled.
	if !hasConsumer(t, js) {
		t.Fatal("no consumer on the ORDERS stream: catalogue does not consume orders.order.cancelled")
	}
	eventually(t, "catalogue to release the reservation", func() bool { return s.stockOf(apple.GetId()) == 10 })

	// The same event delivered again (a replay with a new message id, which
	// the stream's duplicate window cannot catch) releases nothing more.
	seq := publishCopy(t, js, msgs[0])
	eventually(t, "catalogue to process the duplicate", func() bool { return consumersPast(t, js, msgs[0].subject, seq) })
	if got := s.stockOf(apple.GetId()); got != 10 {
		t.Errorf("stock after a duplicate OrderCancelled = %d, want 10", got)
	}
}

// hasConsumer waits a little for any consumer on the ORDERS stream.
func hasConsumer(t *testing.T, js jetstream.JetStream) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		stream, err := js.Stream(ctx, "ORDERS")
		if err == nil {
			names := stream.ConsumerNames(ctx)
			for range names.Name() {
				cancel()
				return true
			}
		}
		cancel()
		time.Sleep(pollEvery)
	}
	return false
}

// consumersPast reports whether every consumer on ORDERS that receives
// subject has acknowledged everything up to seq. Consumers filtered to
// other subjects never see seq, so their ack floor stays behind it.
func consumersPast(t *testing.T, js jetstream.JetStream, subject string, seq uint64) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		return false
	}
	lister := stream.ListConsumers(ctx)
	seen := 0
	for info := range lister.Info() {
		if !receives(info.Config, subject) {
			continue
		}
		seen++
		if info.NumPending > 0 || info.NumAckPending > 0 || info.AckFloor.Stream < seq {
			return false
		}
	}
	return lister.Err() == nil && seen > 0
}

// receives reports whether a consumer's filter lets subject through.
func receives(cfg jetstream.ConsumerConfig, subject string) bool {
	filters := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		filters = append(filters, cfg.FilterSubject)
	}
	if len(filters) == 0 {
		return true
	}
	return slices.ContainsFunc(filters, func(f string) bool { return subjectMatches(f, subject) })
}

// subjectMatches applies NATS wildcards: '*' is one token, '>' the rest.
func subjectMatches(filter, subject string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range ft {
		switch {
		case tok == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case tok != "*" && tok != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}

// An order whose COMMIT is still running when the caller's deadline fires
// is not taken for a failed one: it is committed, its stock stays held, and
// a retry with the same key gets it.
func TestCommitOutlastingTheCallersDeadlineKeepsItsStock(t *testing.T) {
	t.Parallel()
	s := newStack(t, options{natsURL: testenv.EmbeddedNATS(t).URL()})
	apple := s.createProduct("Apple", 250, 10)

	// A deferred trigger makes the COMMIT of a new order take 3 s, well
	// past the caller's 1 s deadline.
	if _, err := s.ordersDB.Exec(t.Context(), `
		CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON orders
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();`); err != nil {
		t.Fatalf("install slow commit: %v", err)
	}
	alice := s.customer()
	key := newKey()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	_, err := alice.place(ctx, key, item(apple, 4))
	cancel()
	if code(err) != codes.DeadlineExceeded {
		t.Fatalf("PlaceOrder with a commit slower than the deadline: %v; want DEADLINE_EXCEEDED", err)
	}
	eventually(t, "the slow commit to land", func() bool {
		return s.queryInt(`SELECT count(*) FROM orders WHERE customer_id = $1`, alice.id) == 1
	})
	if _, err := s.ordersDB.Exec(t.Context(), `DROP TRIGGER slow_commit ON orders`); err != nil {
		t.Fatalf("drop slow commit: %v", err)
	}

	order, err := alice.place(t.Context(), key, item(apple, 4))
	if err != nil {
		t.Fatalf("retry with the same key: %v", err)
	}
	if order.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Errorf("retried order = %v, want CONFIRMED", order)
	}
	// Wait until catalogue has consumed OrderPlaced too, so that any
	// release or confirmation has happened; the stock must still be held.
	js := s.jetStream()
	eventually(t, "the outbox to drain", func() bool { return s.pendingEvents() == 0 })
	msgs := ordersMessages(t, js, "orders.order.placed", order.GetId())
	if len(msgs) != 1 {
		t.Fatalf("ORDERS holds %d OrderPlaced events, want 1", len(msgs))
	}
	if !hasConsumer(t, js) {
		t.Fatal("no consumer on the ORDERS stream")
	}
	eventually(t, "catalogue to consume OrderPlaced", func() bool { return consumersPast(t, js, msgs[0].subject, msgs[0].seq) })
	if got := s.stockOf(apple.GetId()); got != 6 {
		t.Errorf("stock of a committed order of 4 = %d, want 6 (10 less the held 4)", got)
	}
}
