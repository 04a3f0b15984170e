package contract_test

import (
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/analytics/internal/contract"
)

func mustMarshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzEvent feeds arbitrary wire bytes through what a streamed event goes
// through: decoding, the contract's rules, conversion. An event the rules
// accept always converts, and converts to what it said.
func FuzzEvent(f *testing.F) {
	f.Add(mustMarshal(f, &analyticsv1.Event{
		EventId: "0193a3c4-1111-7000-8000-000000000003", EventName: "product_viewed", UserId: "u1",
		OccurredAt: timestamppb.Now(), ProductId: "0193a3c4-1111-7000-8000-000000000004", Properties: map[string]string{"k": "v"},
	}))
	f.Add(mustMarshal(f, &analyticsv1.Event{EventId: "0193A3C4-1111-7000-8000-000000000003", EventName: "add_to_cart", OccurredAt: &timestamppb.Timestamp{Seconds: -1}}))
	f.Add([]byte("\x0a\x03abc"))
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev analyticsv1.Event
		if proto.Unmarshal(data, &ev) != nil {
			return
		}
		if v.Validate(&ev) != nil {
			return
		}
		got, err := contract.Event(&ev)
		if err != nil {
			if ev.GetOccurredAt().IsValid() {
				t.Fatalf("valid event %v does not convert: %v", &ev, err)
			}
			return
		}
		if got.ID.String() != strings.ToLower(ev.GetEventId()) || got.Name != ev.GetEventName() || !got.OccurredAt.Equal(ev.GetOccurredAt().AsTime()) {
			t.Fatalf("event %v converted to %+v", &ev, got)
		}
	})
}

// FuzzClearlyValid holds the bulk path's quick check to protovalidate: an
// event it clears must pass the contract's full rules. Seeds come from the
// edges of each rule.
func FuzzClearlyValid(f *testing.F) {
	for _, ev := range []*analyticsv1.Event{
		{EventId: "0193a3c4-1111-7000-8000-000000000003", EventName: "product_viewed", UserId: strings.Repeat("u", 128),
			OccurredAt: timestamppb.Now(), ProductId: "0193A3C4-1111-7000-8000-00000000000F", Properties: map[string]string{strings.Repeat("k", 64): strings.Repeat("v", 1024)}},
		{EventId: "0193a3c4-1111-7000-8000-000000000003", EventName: "a" + strings.Repeat("b", 63), OccurredAt: timestamppb.Now()},
		{EventId: "0193a3c4-1111-7000-8000-000000000003", EventName: "x.y_9", UserId: "é", OccurredAt: timestamppb.Now(), Properties: map[string]string{"é": "ü"}},
		{EventId: "0193a3c4111170008000000000000003", EventName: "a", OccurredAt: timestamppb.Now()},
		{EventId: "{0193a3c4-1111-7000-8000-000000000003}", EventName: "a", OccurredAt: timestamppb.Now()},
	} {
		f.Add(mustMarshal(f, ev))
	}
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev analyticsv1.Event
		if proto.Unmarshal(data, &ev) != nil || !contract.ClearlyValid(&ev) {
			return
		}
		if err := v.Validate(&ev); err != nil {
			t.Fatalf("cleared %v, which the contract refuses: %v", &ev, err)
		}
	})
}

// TestClearlyValidClearsOrdinaryEvents checks that the quick check lets
// the events clients send through, or the bulk path gains nothing, and
// stops at each limit.
func TestClearlyValidClearsOrdinaryEvents(t *testing.T) {
	t.Parallel()
	ok := func() *analyticsv1.Event {
		return &analyticsv1.Event{
			EventId: "0193a3c4-1111-7000-8000-000000000003", EventName: "product_viewed", UserId: "user-1",
			OccurredAt: timestamppb.Now(), ProductId: "0193a3c4-1111-7000-8000-000000000004",
			Properties: map[string]string{"source": "web", "page": "/p/1"},
		}
	}
	if !contract.ClearlyValid(ok()) {
		t.Fatal("an ordinary event is not cleared")
	}
	noProduct := ok()
	noProduct.ProductId = ""
	if !contract.ClearlyValid(noProduct) {
		t.Error("an event about no product is not cleared")
	}
	for name, change := range map[string]func(*analyticsv1.Event){
		"bad id":          func(e *analyticsv1.Event) { e.EventId = "not-a-uuid" },
		"bad product":     func(e *analyticsv1.Event) { e.ProductId = "0193a3c4-1111-7000-8000-00000000000g" },
		"no time":         func(e *analyticsv1.Event) { e.OccurredAt = nil },
		"upper-case name": func(e *analyticsv1.Event) { e.EventName = "Product_viewed" },
		"long name":       func(e *analyticsv1.Event) { e.EventName = strings.Repeat("a", 65) },
		"long user":       func(e *analyticsv1.Event) { e.UserId = strings.Repeat("u", 129) },
		"empty key":       func(e *analyticsv1.Event) { e.Properties[""] = "v" },
		"long value":      func(e *analyticsv1.Event) { e.Properties["k"] = strings.Repeat("v", 1025) },
		"many properties": func(e *analyticsv1.Event) {
			for i := range 65 {
				e.Properties[strings.Repeat("k", i+1)] = "v"
			}
		},
	} {
		ev := ok()
		change(ev)
		if contract.ClearlyValid(ev) {
			t.Errorf("%s: cleared", name)
		}
	}
}

// FuzzOrder feeds arbitrary payloads to the conversion of OrderPlaced: it
// either refuses the event or yields lines that can be counted.
func FuzzOrder(f *testing.F) {
	f.Add(mustMarshal(f, &ordersv1.OrderPlaced{
		OrderId: "0193a3c4-1111-7000-8000-000000000005", OccurredAt: timestamppb.Now(),
		Lines: []*ordersv1.OrderLine{{ProductId: "0193a3c4-1111-7000-8000-000000000004", Quantity: 2, LineTotal: &ordersv1.Money{AmountMinor: 200, CurrencyCode: "EUR"}}},
	}))
	f.Add(mustMarshal(f, &ordersv1.OrderPlaced{OrderId: "0193a3c4-1111-7000-8000-000000000005"}))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e ordersv1.OrderPlaced
		if proto.Unmarshal(data, &e) != nil {
			return
		}
		o, err := contract.Order(&e)
		if err != nil {
			return
		}
		if len(o.Lines) == 0 {
			t.Fatal("an order without lines converted")
		}
		for _, l := range o.Lines {
			if l.Quantity <= 0 || l.Total.AmountMinor < 0 || len(l.Total.CurrencyCode) != 3 {
				t.Fatalf("line %+v converted", l)
			}
		}
	})
}
