package e2e

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

// placedMessages counts, per order id in ids, the OrderPlaced messages in
// the orders stream.
func placedMessages(t *testing.T, st *stack, ids map[string]bool) map[string]int {
	t.Helper()
	js := jetStreamOf(t, st)
	stream, err := js.Stream(t.Context(), "ORDERS")
	if err != nil {
		t.Fatalf("orders stream: %v", err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(t.Context(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{"orders.order.placed"}})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for seen := uint64(0); seen < info.State.Msgs; {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var ev ordersv1.OrderPlaced
			if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
				t.Fatalf("OrderPlaced: %v", err)
			}
			if ids[ev.GetOrderId()] {
				counts[ev.GetOrderId()]++
			}
		}
		if n == 0 {
			break
		}
		seen += uint64(n)
	}
	return counts
}

// Scenario 13: catalogue and orders run two replicas each behind one name.
// SIGKILL one catalogue replica under order load: orders keep succeeding
// through the other; both relays and sweepers run side by side without
// publishing an order twice; analytics counts each once; stock adds up.
func TestTwoReplicasSurviveOneKilled(t *testing.T) {
	st := needStack(t)
	cat2 := st.replica(t, st.catalogue)
	// orders resolves catalogue's name at start: restart it to see both.
	stopFor(t, st.orders.ctr)
	restart(t, st.orders.ctr, st.orders)
	ord2 := st.replica(t, st.orders)

	p, l, begin := orderLoad(t, st, []ordersv1.OrderServiceClient{clientsOf(t, st).orders, ordersv1.NewOrderServiceClient(dial(t, ord2.grpc))},
		loadSpec{workers: 4, maxCalls: 4000, maxTime: 60 * time.Second, deadline: 10 * time.Second, pause: 20 * time.Millisecond}, 40)

	signal(t, st.catalogue.ctr, "KILL")
	killed := time.Now()
	waitExited(t, st.catalogue.ctr, 10*time.Second)
	time.Sleep(8 * time.Second)
	calls := l.halt()
	// Put the stack back as the other tests expect it.
	restart(t, st.catalogue.ctr, st.catalogue)

	var after, failed int
	var lastFailure time.Duration
	for _, c := range calls {
		if c.start.Before(killed) {
			continue
		}
		after++
		if c.code != codes.OK {
			failed++
			lastFailure = max(lastFailure, c.end.Sub(killed))
		}
	}
	if after == 0 || failed == after {
		t.Fatalf("no order succeeded after the kill: %d calls, outcomes %v", after, outcomes(calls))
	}
	for _, c := range calls {
		if c.start.After(killed.Add(5*time.Second)) && c.code != codes.OK {
			t.Errorf("PlaceOrder %v after the kill: %v %s", c.start.Sub(killed).Round(time.Millisecond), c.code, c.msg)
			break
		}
	}
	// The second catalogue replica served reservations too: orders balanced
	// over both.
	{
		info, err := cat2.ctr.Inspect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		served := 0
		for _, ep := range info.NetworkSettings.Networks {
			served += len(st.otlp.find(func(s span) bool {
				return s.service == "catalogue" && s.kind.String() == "SPAN_KIND_SERVER" && s.name == "catalogue.v1.CatalogueService/ReserveStock" &&
					s.attrs["server.address"] == ep.IPAddress.String() && s.start.After(begin)
			}))
		}
		if served == 0 {
			t.Errorf("the second catalogue replica served no ReserveStock: orders did not balance over both")
		}
	}
	placed := distinctOK(calls)
	counts := placedMessages(t, st, placed)
	twice, missing := 0, 0
	for id := range placed {
		switch counts[id] {
		case 1:
		case 0:
			missing++
		default:
			twice++
		}
	}
	if twice != 0 || missing != 0 {
		t.Errorf("OrderPlaced per order: %d published twice, %d missing, of %d", twice, missing, len(placed))
	}
	analyticsCountsExactly(t, st, p.GetId(), len(placed))
	units := checkStock(t, st, p.GetId(), loadStock)
	reportf("13 two replicas each", "orders keep succeeding", "after SIGKILL of one catalogue: %d of %d calls failed (%.1f%%), the last %v after the kill",
		failed, after, 100*float64(failed)/float64(after), lastFailure.Round(time.Millisecond))
	reportf("13 two replicas each", "each order published once; stock adds up", "%d orders, each OrderPlaced once in the stream, counted once by analytics; %d units held", len(placed), units)
}
