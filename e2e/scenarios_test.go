package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

// clients are the generated clients of the three services, dialled anew
// for each test: ports move when a container restarts.
type clients struct {
	catalogue cataloguev1.CatalogueServiceClient
	orders    ordersv1.OrderServiceClient
	analytics analyticsv1.AnalyticsServiceClient
}

func clientsOf(t *testing.T, st *stack) clients {
	t.Helper()
	return clients{
		catalogue: cataloguev1.NewCatalogueServiceClient(dial(t, st.catalogue.grpc)),
		orders:    ordersv1.NewOrderServiceClient(dial(t, st.orders.grpc)),
		analytics: analyticsv1.NewAnalyticsServiceClient(dial(t, st.analytics.grpc)),
	}
}

// eventually polls cond every 100 ms until it holds or timeout passes, and
// returns how long it took; it fails the test on timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout || t.Context().Err() != nil {
			t.Fatalf("%s: not within %v; last: %s", what, timeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// statsOf reads a product's analytics over the hour around now.
func statsOf(t *testing.T, st *stack, c clients, productID string) *analyticsv1.ProductStats {
	t.Helper()
	now := time.Now()
	resp, err := c.analytics.GetProductStats(t.Context(), &analyticsv1.GetProductStatsRequest{
		ProductId: productID, StartTime: timestamppb.New(now.Add(-time.Hour)), EndTime: timestamppb.New(now.Add(time.Hour)),
	}, bearer(st.token(t, "e2e-analyst", "analyst")))
	if err != nil {
		t.Fatalf("GetProductStats: %v", err)
	}
	return resp.GetStats()
}

func revenueOf(s *analyticsv1.ProductStats, currency string) int64 {
	for _, m := range s.GetRevenue() {
		if m.GetCurrencyCode() == currency {
			return m.GetAmountMinor()
		}
	}
	return 0
}

func placeReq(productID string, qty int32) *ordersv1.PlaceOrderRequest {
	return &ordersv1.PlaceOrderRequest{IdempotencyKey: "e2e-" + uuid.NewString(), Items: []*ordersv1.OrderItem{{ProductId: productID, Quantity: qty}}}
}

// Scenario 1: search, order, confirmation, stock, analytics, cancellation.
func TestHappyPathAcrossServices(t *testing.T) {
	st := needStack(t)
	c := clientsOf(t, st)
	word := "happy" + hex.EncodeToString([]byte(uuid.NewString()[:4]))
	admin := bearer(st.token(t, "e2e-admin", "admin"))
	created, err := c.catalogue.CreateProduct(t.Context(), &cataloguev1.CreateProductRequest{
		Sku: "E2E-" + strings.ToUpper(word), Name: "Desk lamp " + word, Description: "Brass desk lamp", CategoryId: "e2e",
		Price: &cataloguev1.Money{AmountMinor: 4250, CurrencyCode: "EUR"}, StockQty: 7,
	}, admin)
	if err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	p := created.GetProduct()

	found, err := c.catalogue.SearchProducts(t.Context(), &cataloguev1.SearchProductsRequest{Query: word})
	if err != nil {
		t.Fatalf("SearchProducts: %v", err)
	}
	if len(found.GetProducts()) != 1 || found.GetProducts()[0].GetId() != p.GetId() {
		t.Fatalf("search %q found %v, want only %s", word, found.GetProducts(), p.GetId())
	}

	dana := bearer(st.token(t, "dana", "customer"))
	placed, err := c.orders.PlaceOrder(t.Context(), placeReq(p.GetId(), 3), dana)
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	order := placed.GetOrder()
	if order.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED || order.GetTotal().GetAmountMinor() != 3*4250 {
		t.Fatalf("order = %v %v, want CONFIRMED 12750 EUR", order.GetStatus(), order.GetTotal())
	}
	if got := stockOf(t, st, p.GetId()); got != 4 {
		t.Errorf("stock after order = %d, want 4", got)
	}
	took := eventually(t, 5*time.Second, "analytics counts the order", func() (bool, string) {
		s := statsOf(t, st, c, p.GetId())
		return s.GetOrders() == 1 && s.GetUnitsSold() == 3 && revenueOf(s, "EUR") == 12750, s.String()
	})
	reportf("1 happy path", "≤ 5 s", "order in analytics after %v", took.Round(time.Millisecond))

	cancelled := time.Now()
	if _, err := c.orders.CancelOrder(t.Context(), &ordersv1.CancelOrderRequest{OrderId: order.GetId(), Reason: "e2e"}, dana); err != nil {
		t.Fatalf("CancelOrder: %v", err)
	}
	eventually(t, 5*time.Second, "analytics takes the cancelled order out", func() (bool, string) {
		s := statsOf(t, st, c, p.GetId())
		return s.GetOrders() == 0 && s.GetUnitsSold() == 0 && revenueOf(s, "EUR") == 0, s.String()
	})
	took = time.Since(cancelled)
	eventually(t, 30*time.Second, "stock restored after cancel", func() (bool, string) {
		got := stockOf(t, st, p.GetId())
		return got == 7, fmt.Sprintf("stock %d", got)
	})
	reportf("1 happy path", "≤ 5 s", "cancellation in analytics %v after CancelOrder; stock back to 7", took.Round(time.Millisecond))
}

// withTraceparent starts a sampled trace of the test's own, so the spans
// of one call can be found among everything the services export.
func withTraceparent(ctx context.Context) (context.Context, string) {
	var tid [16]byte
	var sid [8]byte
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	traceID := hex.EncodeToString(tid[:])
	return metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+traceID+"-"+hex.EncodeToString(sid[:])+"-01"), traceID
}

// Scenario 2: one PlaceOrder is one trace, from the orders server span
// through the catalogue call and the outbox publish to both consumers.
func TestOnePlaceOrderIsOneTrace(t *testing.T) {
	st := needStack(t)
	c := clientsOf(t, st)
	p := createProduct(t, st, 5, 300)
	ctx, traceID := withTraceparent(t.Context())
	if _, err := c.orders.PlaceOrder(ctx, placeReq(p.GetId(), 1), bearer(st.token(t, "erin", "customer"))); err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	type want struct {
		service string
		kind    string
		name    string
	}
	wants := []want{
		{"orders", "SPAN_KIND_SERVER", "orders.v1.OrderService/PlaceOrder"},
		{"orders", "SPAN_KIND_CLIENT", "catalogue.v1.CatalogueService/ReserveStock"},
		{"catalogue", "SPAN_KIND_SERVER", "catalogue.v1.CatalogueService/ReserveStock"},
		{"orders", "SPAN_KIND_PRODUCER", "publish orders.order.placed"},
		{"catalogue", "SPAN_KIND_CONSUMER", "process orders.order.placed"},
		{"analytics", "SPAN_KIND_CONSUMER", "process orders.order.placed"},
	}
	has := func(spans []span, w want) (span, bool) {
		for _, s := range spans {
			if s.service == w.service && s.kind.String() == w.kind && s.name == w.name {
				return s, true
			}
		}
		return span{}, false
	}
	var spans []span
	start := time.Now()
	eventually(t, 15*time.Second, "every span of the trace exported", func() (bool, string) {
		spans = st.otlp.trace(traceID)
		for _, w := range wants {
			if _, ok := has(spans, w); !ok {
				return false, fmt.Sprintf("missing %v in\n%s", w, describe(spans))
			}
		}
		return true, ""
	})
	byID := map[string]span{}
	for _, s := range spans {
		byID[s.spanID] = s
	}
	// Each span hangs off the one before it in the flow.
	parentOf := func(s span) (span, bool) { p, ok := byID[s.parentID]; return p, ok }
	server, _ := has(spans, wants[0])
	publish, _ := has(spans, wants[3])
	for _, w := range wants[1:] {
		s, _ := has(spans, w)
		// Walk up to the orders server span; every step must be exported.
		cur, steps := s, 0
		for cur.spanID != server.spanID && steps < 20 {
			p, ok := parentOf(cur)
			if !ok {
				t.Errorf("%v: parent %s not in the trace\n%s", w, cur.parentID, describe(spans))
				break
			}
			cur, steps = p, steps+1
		}
	}
	for _, w := range wants[4:] {
		if s, _ := has(spans, w); s.parentID != publish.spanID {
			t.Errorf("%v: parent %s, want the publish span %s", w, s.parentID, publish.spanID)
		}
	}
	reportf("2 one trace", "6 spans joined", "%d spans in one trace, all joined (exported within %v)", len(spans), time.Since(start).Round(time.Millisecond))
}

// Scenario 7: stock 10, 100 concurrent orders from 20 customers.
func TestOversellRace(t *testing.T) {
	st := needStack(t)
	c := clientsOf(t, st)
	p := createProduct(t, st, 10, 100)
	tokens := make([]grpc.CallOption, 20)
	for i := range tokens {
		tokens[i] = bearer(st.token(t, fmt.Sprintf("racer-%d", i), "customer"))
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes = map[codes.Code]int{}
	)
	for i := range 100 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			_, err := c.orders.PlaceOrder(ctx, placeReq(p.GetId(), 1), tokens[i%20])
			mu.Lock()
			outcomes[status.Code(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	ok, refused := outcomes[codes.OK], outcomes[codes.FailedPrecondition]
	if ok != 10 || refused != 90 {
		t.Errorf("outcomes = %v, want 10 OK and 90 FAILED_PRECONDITION", outcomes)
	}
	if got := stockOf(t, st, p.GetId()); got != 0 {
		t.Errorf("final stock = %d, want 0", got)
	}
	reportf("7 oversell race", "exactly 10 of 100, stock 0", "%d OK, %d FAILED_PRECONDITION, stock %d", ok, refused, stockOf(t, st, p.GetId()))
}

// Scenario 8: 20 concurrent retries of one PlaceOrder are one order.
func TestConcurrentRetriesAreOneOrder(t *testing.T) {
	st := needStack(t)
	c := clientsOf(t, st)
	p := createProduct(t, st, 50, 700)
	req := placeReq(p.GetId(), 2)
	frank := bearer(st.token(t, "frank", "customer"))
	var wg sync.WaitGroup
	resps := make([]*ordersv1.PlaceOrderResponse, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() { resps[i], errs[i] = c.orders.PlaceOrder(t.Context(), req, frank) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		if !proto.Equal(resps[i], resps[0]) {
			t.Errorf("retry %d answered %v, retry 0 %v", i, resps[i], resps[0])
		}
	}
	list, err := c.orders.ListOrders(t.Context(), &ordersv1.ListOrdersRequest{}, frank)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.GetOrders()); n != 1 {
		t.Errorf("frank has %d orders, want 1", n)
	}
	if got := stockOf(t, st, p.GetId()); got != 48 {
		t.Errorf("stock = %d, want 48", got)
	}
	reportf("8 idempotent retries", "1 order, identical answers", "20 retries → %d order(s), stock %d of 50", len(list.GetOrders()), stockOf(t, st, p.GetId()))
}
