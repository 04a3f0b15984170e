package interceptor_test

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/interceptor"
)

// fuzzTargets are the request types whose wire bytes the fuzzer mutates.
func fuzzTargets() []func() proto.Message {
	return []func() proto.Message{
		func() proto.Message { return &cataloguev1.CreateProductRequest{} },
		func() proto.Message { return &cataloguev1.SearchProductsRequest{} },
		func() proto.Message { return &cataloguev1.ReserveStockRequest{} },
		func() proto.Message { return &cataloguev1.UpdateProductRequest{} },
		func() proto.Message { return &ordersv1.PlaceOrderRequest{} },
		func() proto.Message { return &analyticsv1.TrackEventRequest{} },
		func() proto.Message { return &analyticsv1.TopProductsRequest{} },
	}
}

// FuzzValidate feeds arbitrary wire bytes to request validation: it must never
// panic, and it answers either nil or INVALID_ARGUMENT with field violations.
func FuzzValidate(f *testing.F) {
	seeds := []proto.Message{
		&cataloguev1.CreateProductRequest{Sku: "LAMP-1", Name: "Lamp", CategoryId: "home", Price: &cataloguev1.Money{AmountMinor: 1999, CurrencyCode: "EUR"}},
		&cataloguev1.ReserveStockRequest{ReservationId: "0193a3c4-1111-7000-8000-000000000001", Items: []*cataloguev1.ReservationItem{{ProductId: "0193a3c4-1111-7000-8000-000000000002", Quantity: 2}}},
		&ordersv1.PlaceOrderRequest{IdempotencyKey: "key-12345678", Items: []*ordersv1.OrderItem{{ProductId: "0193a3c4-1111-7000-8000-000000000002", Quantity: 1}}},
		&analyticsv1.TrackEventRequest{Event: &analyticsv1.Event{EventId: "0193a3c4-1111-7000-8000-000000000003", EventName: "product_viewed", OccurredAt: timestamppb.Now(), Properties: map[string]string{"k": "v"}}},
	}
	for i, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i))
	}
	f.Add([]byte{}, uint8(5))
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, uint8(1))

	v, err := interceptor.NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	targets := fuzzTargets()
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		msg := targets[int(which)%len(targets)]()
		if proto.Unmarshal(data, msg) != nil {
			return
		}
		err := v.Validate(msg)
		if err == nil {
			return
		}
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("code = %v, want InvalidArgument: %v", st.Code(), err)
		}
		found := false
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
				found = true
			}
		}
		if !found {
			t.Fatalf("INVALID_ARGUMENT without field violations: %v", err)
		}
	})
}
