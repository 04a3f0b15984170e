package contract_test

import (
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	"github.com/storefront-go/storefront/services/analytics/internal/contract"
)

// BenchmarkStreamedEvent is the per-event work of StreamEvents' bulk path
// on one typical event (two properties), each way against the baseline of
// that step:
//
//   - decode: proto.Unmarshal of the wire bytes, the floor of any path;
//   - clearly-valid: the contract's fast check, which the bulk path runs
//     instead of protovalidate for events it clears;
//   - protovalidate: the full rules, what a unary request pays;
//   - convert: contract.Event, to the domain value the batch writes.
//
// Read them against each other, not as times.
func BenchmarkStreamedEvent(b *testing.B) {
	ev := &analyticsv1.Event{
		EventId: "0193a3c4-1111-7000-8000-000000000003", EventName: "product_viewed", UserId: "u1",
		OccurredAt: timestamppb.Now(), ProductId: "0193a3c4-1111-7000-8000-000000000004",
		Properties: map[string]string{"source": "search", "position": "3"},
	}
	wire := mustMarshal(b, ev)
	v, err := protovalidate.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out analyticsv1.Event
			if err := proto.Unmarshal(wire, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("clearly-valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !contract.ClearlyValid(ev) {
				b.Fatal("a valid event was not cleared")
			}
		}
	})
	b.Run("protovalidate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.Validate(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("convert", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := contract.Event(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
