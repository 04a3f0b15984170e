package consumer

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

func stockChanged() *cataloguev1.StockChanged {
	return &cataloguev1.StockChanged{
		ProductId:     "0195f0a2-7c1e-7b3a-9d2e-1f4a5b6c7d8e",
		Available:     7,
		Delta:         -3,
		Reason:        "reserve",
		ReservationId: "0195f0a2-8000-7000-8000-000000000001",
		OccurredAt:    timestamppb.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)),
	}
}

func orderPlaced() *ordersv1.OrderPlaced {
	eur := func(minor int64) *ordersv1.Money { return &ordersv1.Money{AmountMinor: minor, CurrencyCode: "EUR"} }
	return &ordersv1.OrderPlaced{
		OrderId:    "o-1",
		CustomerId: "c-1",
		Lines: []*ordersv1.OrderLine{
			{ProductId: "p-1", Sku: "SKU-1", Name: "Mug", Quantity: 2, UnitPrice: eur(1250), LineTotal: eur(2500)},
		},
		Total:      eur(2500),
		OccurredAt: timestamppb.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)),
	}
}

func mustMarshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatalf("marshal %T: %v", m, err)
	}
	return b
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     Message
		want    proto.Message
		wantErr error // checked with errors.Is when set
		fails   bool
	}{
		{
			name: "stock changed",
			msg:  Message{ID: "1", Type: "catalogue.v1.StockChanged", Data: mustMarshal(t, stockChanged())},
			want: stockChanged(),
		},
		{
			name: "order placed",
			msg:  Message{ID: "2", Type: "orders.v1.OrderPlaced", Data: mustMarshal(t, orderPlaced())},
			want: orderPlaced(),
		},
		{
			name: "empty payload is the zero event",
			msg:  Message{ID: "3", Type: "catalogue.v1.StockChanged"},
			want: &cataloguev1.StockChanged{},
		},
		{
			name:    "unknown type",
			msg:     Message{ID: "4", Type: "catalogue.v1.NoSuchEvent", Data: []byte{0x0a, 0x01, 'x'}},
			wantErr: protoregistry.NotFound,
			fails:   true,
		},
		{
			name:  "missing type",
			msg:   Message{ID: "5", Data: mustMarshal(t, stockChanged())},
			fails: true,
		},
		{
			name:  "invalid type name",
			msg:   Message{ID: "6", Type: "orders..v1/OrderPlaced"},
			fails: true,
		},
		{
			name:  "malformed payload",
			msg:   Message{ID: "7", Type: "orders.v1.OrderPlaced", Data: []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
			fails: true,
		},
		{
			name:  "payload of another type with a clashing wire type",
			msg:   Message{ID: "8", Type: "catalogue.v1.StockChanged", Data: []byte{0x10, 0x03, 'a', 'b', 'c'}},
			fails: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.msg.Decode()
			if tt.fails {
				if err == nil {
					t.Fatalf("Decode() = %v, want an error", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Decode() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("Decode() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzDecode checks that Decode never panics, rejects unknown types, and that
// whatever it accepts survives a marshal/decode round trip.
func FuzzDecode(f *testing.F) {
	f.Add("catalogue.v1.StockChanged", mustMarshal(f, stockChanged()))
	f.Add("orders.v1.OrderPlaced", mustMarshal(f, orderPlaced()))
	f.Add("catalogue.v1.NoSuchEvent", []byte("garbage"))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		msg := Message{ID: "fuzz", Type: typ, Data: data}
		got, err := msg.Decode()
		if _, lookupErr := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ)); lookupErr != nil {
			if err == nil {
				t.Fatalf("Decode() of unknown type %q succeeded", typ)
			}
			return
		}
		if err != nil {
			return // malformed payload for a known type
		}
		if got == nil {
			t.Fatal("Decode() returned nil message and nil error")
		}
		if name := string(got.ProtoReflect().Descriptor().FullName()); name != typ {
			t.Fatalf("Decode() type = %s, want %s", name, typ)
		}
		again, err := Message{ID: "fuzz", Type: typ, Data: mustMarshal(t, got)}.Decode()
		if err != nil {
			t.Fatalf("decode re-marshalled %s: %v", typ, err)
		}
		if diff := cmp.Diff(got, again, protocmp.Transform(), cmpopts.EquateNaNs()); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}
