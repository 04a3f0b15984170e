package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	pgstore "github.com/storefront-go/storefront/services/analytics/internal/adapters/postgres"
)

// track records events through TrackEvent.
func track(t *testing.T, a *instance, events ...*analyticsv1.Event) {
	t.Helper()
	for _, ev := range events {
		if _, err := a.client.TrackEvent(t.Context(), &analyticsv1.TrackEventRequest{Event: ev}); err != nil {
			t.Fatalf("track %s: %v", ev.GetEventName(), err)
		}
	}
}

func (e *env) stats(a *instance, product uuid.UUID, start, end time.Time) *analyticsv1.GetProductStatsResponse {
	e.t.Helper()
	resp, err := a.client.GetProductStats(e.t.Context(), &analyticsv1.GetProductStatsRequest{
		ProductId: product.String(), StartTime: timestamppb.New(start), EndTime: timestamppb.New(end),
	}, e.analyst())
	if err != nil {
		e.t.Fatalf("stats of %s over [%s, %s): %v", product, start, end, err)
	}
	return resp
}

func orderLine(product uuid.UUID, qty int32, totalMinor int64, currency string) *ordersv1.OrderLine {
	return &ordersv1.OrderLine{
		ProductId: product.String(), Quantity: qty,
		LineTotal: &ordersv1.Money{AmountMinor: totalMinor, CurrencyCode: currency},
	}
}

func TestProductStatsOverWindows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	p, other := uuid.New(), uuid.New()
	// base is a whole hour, three hours back: inside the retention, and
	// every window below ends before now.
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	at := base.Add
	track(t, a,
		event("product_viewed", p, at(0)),              // first instant of the window
		event("product_viewed", p, at(59*time.Second)), // last second of minute 0
		event("product_viewed", p, at(time.Minute)),    // first instant of minute 1
		event("add_to_cart", p, at(61*time.Minute)),
		event("product_viewed", p, at(2*time.Hour+30*time.Minute)),
		event("product_viewed", other, at(time.Minute)),
		event("page_viewed", p, at(time.Minute)), // stored, counted nowhere
	)
	// A late event, older than those already counted.
	track(t, a, event("product_viewed", p, at(5*time.Minute)))

	// Orders: one placed at base+10m, one placed at +70m and then
	// cancelled, one cancelled before its placement arrived.
	placed := uuid.New()
	e.publish("orders.order.placed", &ordersv1.OrderPlaced{
		OrderId: placed.String(), OccurredAt: timestamppb.New(at(10 * time.Minute)),
		Lines: []*ordersv1.OrderLine{orderLine(p, 2, 2000, "EUR"), orderLine(other, 1, 500, "EUR")},
	}, uuid.NewString())
	cancelled := uuid.New()
	e.publish("orders.order.placed", &ordersv1.OrderPlaced{
		OrderId: cancelled.String(), OccurredAt: timestamppb.New(at(70 * time.Minute)),
		Lines: []*ordersv1.OrderLine{orderLine(p, 5, 5000, "EUR")},
	}, uuid.NewString())
	e.publish("orders.order.cancelled", &ordersv1.OrderCancelled{
		OrderId: cancelled.String(), OccurredAt: timestamppb.New(at(80 * time.Minute)),
		Lines: []*ordersv1.OrderLine{orderLine(p, 5, 5000, "EUR")},
	}, uuid.NewString())
	early := uuid.New()
	e.publish("orders.order.cancelled", &ordersv1.OrderCancelled{
		OrderId: early.String(), OccurredAt: timestamppb.New(at(95 * time.Minute)),
		Lines: []*ordersv1.OrderLine{orderLine(p, 1, 100, "USD")},
	}, uuid.NewString())
	e.publish("orders.order.placed", &ordersv1.OrderPlaced{
		OrderId: early.String(), OccurredAt: timestamppb.New(at(90 * time.Minute)),
		Lines: []*ordersv1.OrderLine{orderLine(p, 1, 100, "USD")},
	}, uuid.NewString())
	e.publish("catalogue.product.created", &cataloguev1.ProductCreated{
		Product: &cataloguev1.Product{Id: p.String(), Name: "Desk lamp", CategoryId: "lighting"}, OccurredAt: timestamppb.New(at(0)),
	}, uuid.NewString())
	eventually(t, "every business event handled", func() bool {
		return e.count(`SELECT count(*) FROM consumer_inbox`) == 6
	})

	type want struct {
		views, carts, orders, units int64
		revenue                     []*analyticsv1.Money
	}
	eur := func(n int64) []*analyticsv1.Money { return []*analyticsv1.Money{{AmountMinor: n, CurrencyCode: "EUR"}} }
	tests := []struct {
		name               string
		start, end         time.Duration
		wantStart, wantEnd time.Duration
		want               want
	}{
		{"minute 0: both edges", 0, time.Minute, 0, time.Minute, want{views: 2}},
		{"minutes 1 to 60 exclude the cart at 61", time.Minute, 61 * time.Minute, time.Minute, 61 * time.Minute,
			want{views: 2, orders: 1, units: 2, revenue: eur(2000)}},
		{"a window cutting minutes is widened to them", 30 * time.Second, 90 * time.Second, 0, 2 * time.Minute, want{views: 3}},
		{"whole hours and ragged ends", 50 * time.Second, 2*time.Hour + 31*time.Minute, 0, 2*time.Hour + 31*time.Minute,
			want{views: 5, carts: 1, orders: 1, units: 2, revenue: eur(2000)}},
		{"the cancelled order counts nowhere", time.Hour, 2 * time.Hour, time.Hour, 2 * time.Hour, want{carts: 1}},
		{"nothing after", 3 * time.Hour, 3*time.Hour + time.Minute, 3 * time.Hour, 3*time.Hour + time.Minute, want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.stats(a, p, at(tt.start), at(tt.end))
			st := resp.GetStats()
			got := want{st.GetViews(), st.GetAddToCarts(), st.GetOrders(), st.GetUnitsSold(), st.GetRevenue()}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{}), protocmp.Transform()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if !resp.GetWindowStart().AsTime().Equal(at(tt.wantStart)) || !resp.GetWindowEnd().AsTime().Equal(at(tt.wantEnd)) {
				t.Errorf("window answered [%s, %s), want [%s, %s)", resp.GetWindowStart().AsTime(), resp.GetWindowEnd().AsTime(), at(tt.wantStart), at(tt.wantEnd))
			}
			if st.GetName() != "Desk lamp" || st.GetCategoryId() != "lighting" {
				t.Errorf("name, category = %q, %q; want Desk lamp, lighting", st.GetName(), st.GetCategoryId())
			}
		})
	}

	// Every bucket agrees with the raw events: the views of p, minute by
	// minute, are the raw product_viewed events of p.
	e.fold(a)
	if raw, counted := e.count(`SELECT count(*) FROM events WHERE product_id = $1 AND event_name = 'product_viewed'`, p),
		e.count(`SELECT sum(views) FROM product_counts WHERE product_id = $1 AND width_minutes = 1`, p); raw != counted {
		t.Errorf("raw views %d, counted %d", raw, counted)
	}
}

func TestOrderEventsCountOnceAndCancellationsSubtract(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	p := uuid.New()
	at := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	order := uuid.New()
	placed := &ordersv1.OrderPlaced{OrderId: order.String(), OccurredAt: timestamppb.New(at),
		Lines: []*ordersv1.OrderLine{orderLine(p, 3, 3000, "EUR")}}
	// The same event twice: once as published, once as an outbox replay
	// past the duplicate window would arrive, under another message id.
	e.publish("orders.order.placed", placed, uuid.NewString())
	e.publish("orders.order.placed", placed, uuid.NewString())
	eventually(t, "both deliveries handled", func() bool { return e.count(`SELECT count(*) FROM consumer_inbox`) == 2 })
	st := e.stats(a, p, at, at.Add(time.Minute)).GetStats()
	if st.GetOrders() != 1 || st.GetUnitsSold() != 3 {
		t.Fatalf("after a doubled OrderPlaced: orders %d, units %d; want 1 and 3", st.GetOrders(), st.GetUnitsSold())
	}
	e.publish("orders.order.cancelled", &ordersv1.OrderCancelled{OrderId: order.String(), OccurredAt: timestamppb.New(at.Add(5 * time.Minute)),
		Lines: placed.GetLines()}, uuid.NewString())
	eventually(t, "the cancellation handled", func() bool { return e.count(`SELECT count(*) FROM consumer_inbox`) == 3 })
	st = e.stats(a, p, at, at.Add(time.Hour)).GetStats()
	if st.GetOrders() != 0 || st.GetUnitsSold() != 0 || len(st.GetRevenue()) != 0 {
		t.Errorf("after the cancellation: orders %d, units %d, revenue %v; want all zero", st.GetOrders(), st.GetUnitsSold(), st.GetRevenue())
	}
}

func TestPoisonOrderEventIsDeadLetteredAndOthersFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	msg := natsMsg("orders.order.placed", []byte("not a protobuf message \xff\xff"), "orders.v1.OrderPlaced")
	if _, err := e.js.PublishMsg(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	p := uuid.New()
	at := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	e.publish("orders.order.placed", &ordersv1.OrderPlaced{OrderId: uuid.NewString(), OccurredAt: timestamppb.New(at),
		Lines: []*ordersv1.OrderLine{orderLine(p, 1, 100, "EUR")}}, uuid.NewString())
	eventually(t, "the good event counted", func() bool {
		return e.stats(a, p, at, at.Add(time.Minute)).GetStats().GetOrders() == 1
	})
	eventually(t, "the poison message dead-lettered", func() bool {
		s, err := e.js.Stream(t.Context(), "DEADLETTER")
		if err != nil {
			return false
		}
		_, err = s.GetLastMsgForSubject(t.Context(), "deadletter.analytics-order-placed")
		return err == nil
	})
}

func TestTopProductsOrderIsStableWithTiesByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.start(nil)
	at := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	ids := []uuid.UUID{
		uuid.MustParse("00000000-0000-4000-8000-00000000000c"),
		uuid.MustParse("00000000-0000-4000-8000-00000000000a"),
		uuid.MustParse("00000000-0000-4000-8000-00000000000b"),
		uuid.MustParse("00000000-0000-4000-8000-00000000000d"),
	}
	views := []int{3, 3, 5, 1}
	for i, id := range ids {
		for j := range views[i] {
			track(t, a, event("product_viewed", id, at.Add(time.Duration(j)*time.Minute)))
		}
	}
	top := func(limit int32) []string {
		resp, err := a.client.TopProducts(t.Context(), &analyticsv1.TopProductsRequest{
			Metric: analyticsv1.Metric_METRIC_VIEWS, StartTime: timestamppb.New(at), EndTime: timestamppb.New(at.Add(time.Hour)), Limit: limit,
		}, e.analyst())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range resp.GetProducts() {
			out = append(out, s.GetProductId()[len(s.GetProductId())-2:])
		}
		return out
	}
	want := []string{"0b", "0a", "0c", "0d"}
	for range 3 {
		if diff := cmp.Diff(want, top(10)); diff != "" {
			t.Fatalf("ranking (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff(want[:2], top(2)); diff != "" {
		t.Errorf("top 2 (-want +got):\n%s", diff)
	}
	// Nothing ranks by orders: no product has one.
	resp, err := a.client.TopProducts(t.Context(), &analyticsv1.TopProductsRequest{
		Metric: analyticsv1.Metric_METRIC_ORDERS, StartTime: timestamppb.New(at), EndTime: timestamppb.New(at.Add(time.Hour)), Limit: 10,
	}, e.analyst())
	if err != nil || len(resp.GetProducts()) != 0 {
		t.Errorf("top by orders: %v, %v; want none", resp.GetProducts(), err)
	}
	// Revenue needs its currency.
	_, err = a.client.TopProducts(t.Context(), &analyticsv1.TopProductsRequest{
		Metric: analyticsv1.Metric_METRIC_REVENUE, StartTime: timestamppb.New(at), EndTime: timestamppb.New(at.Add(time.Hour)), Limit: 10,
	}, e.analyst())
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("revenue without currency: %v, want INVALID_ARGUMENT", err)
	}
	// Stats are not public.
	if _, err := a.client.TopProducts(context.Background(), &analyticsv1.TopProductsRequest{
		Metric: analyticsv1.Metric_METRIC_VIEWS, StartTime: timestamppb.New(at), EndTime: timestamppb.New(at.Add(time.Hour)), Limit: 1,
	}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("top without a token: %v, want UNAUTHENTICATED", err)
	}
}

// TestPendingDeltasCountAndFoldOnce: what ingested events add to the
// counters is readable before the fold job has moved it into the buckets,
// in every window, and folding it (by several folders at once, as replicas
// do) changes no figure and counts nothing twice.
func TestPendingDeltasCountAndFoldOnce(t *testing.T) {
	e := newEnv(t)
	a := e.start(map[string]string{"COUNTS_FOLD_INTERVAL": "1h"}) // no fold while the test reads
	p, q := uuid.New(), uuid.New()
	now := time.Now().UTC().Truncate(time.Minute)
	start := now.Add(-3 * time.Hour)

	// Views of p over three hours, one per minute, and twice as many of
	// q in the last hour: streamed in batches, plus some tracked one by one.
	var events []*analyticsv1.Event
	for m := range 180 {
		events = append(events, event("product_viewed", p, start.Add(time.Duration(m)*time.Minute+time.Second)))
	}
	for m := range 120 {
		events = append(events, event("product_viewed", q, now.Add(-time.Hour+time.Duration(m/2)*time.Minute)))
	}
	if resp, err := e.sendPacked(t.Context(), a, events, 7); err != nil || resp.GetAcceptedCount() != 300 {
		t.Fatalf("stream: %v, %d accepted", err, resp.GetAcceptedCount())
	}
	track(t, a, event("add_to_cart", p, now.Add(-30*time.Second)), event("add_to_cart", p, now.Add(-90*time.Minute)))
	if pending := e.count(`SELECT count(*) FROM count_deltas`); pending == 0 {
		t.Fatal("no pending counter deltas: the fold ran, or ingest wrote the buckets")
	}

	type figures struct{ pViews, pCarts, qViews, lastHourP, lastHourQ int64 }
	read := func() (f figures, top []string) {
		end := now.Add(time.Minute)
		ps, qs := e.stats(a, p, start, end), e.stats(a, q, start, end)
		f.pViews, f.pCarts, f.qViews = ps.GetStats().GetViews(), ps.GetStats().GetAddToCarts(), qs.GetStats().GetViews()
		f.lastHourP = e.stats(a, p, now.Add(-time.Hour), end).GetStats().GetViews()
		f.lastHourQ = e.stats(a, q, now.Add(-time.Hour), end).GetStats().GetViews()
		resp, err := a.client.TopProducts(t.Context(), &analyticsv1.TopProductsRequest{
			Metric: analyticsv1.Metric_METRIC_VIEWS, Limit: 5,
			StartTime: timestamppb.New(now.Add(-time.Hour)), EndTime: timestamppb.New(end),
		}, e.analyst())
		if err != nil {
			t.Fatalf("top products: %v", err)
		}
		for _, s := range resp.GetProducts() {
			top = append(top, s.GetProductId())
		}
		return f, top
	}
	want := figures{pViews: 180, pCarts: 2, qViews: 120, lastHourP: 60, lastHourQ: 120}
	wantTop := []string{q.String(), p.String()}
	before, topBefore := read()
	if before != want || !slices.Equal(topBefore, wantTop) {
		t.Errorf("before folding: %+v, top %v; want %+v, top %v", before, topBefore, want, wantTop)
	}

	// Four folders at once, one delta row per step.
	store := pgstore.New(a.host.Lanes())
	var g errgroup.Group
	folded := make([]int, 4)
	for i := range folded {
		g.Go(func() error {
			for {
				n, err := store.FoldCounts(t.Context(), 1)
				folded[i] += n
				if err != nil || n == 0 {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if left := e.count(`SELECT count(*) FROM count_deltas`); left != 0 {
		t.Errorf("%d counter deltas left after folding", left)
	}
	after, topAfter := read()
	if after != want || !slices.Equal(topAfter, wantTop) {
		t.Errorf("after folding (%v rows per folder): %+v, top %v; want %+v, top %v", folded, after, topAfter, want, wantTop)
	}
	for _, width := range []int{1, 60} {
		if got := e.count(`SELECT sum(views) FROM product_counts WHERE product_id = $1 AND width_minutes = $2`, p, width); got != 180 {
			t.Errorf("width %d: %d views of p in the buckets, want 180", width, got)
		}
	}
}
