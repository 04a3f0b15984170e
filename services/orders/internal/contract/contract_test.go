package contract_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/orders/internal/contract"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

const (
	prodA = "0190a0e8-0000-7000-8000-00000000000a"
	prodB = "0190a0e8-0000-7000-8000-00000000000b"
	prodC = "0190a0e8-0000-7000-8000-00000000000c"
)

func item(id string, qty int32) *ordersv1.OrderItem {
	return &ordersv1.OrderItem{ProductId: id, Quantity: qty}
}

func TestItemsRejectsBadProductID(t *testing.T) {
	t.Parallel()
	if _, err := contract.Items([]*ordersv1.OrderItem{item("not-a-uuid", 1)}); err == nil {
		t.Error("Items accepted a malformed product id")
	}
}

func sampleOrder(t *testing.T, status domain.Status) domain.Order {
	t.Helper()
	created := domain.Timestamp(time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC))
	o := domain.Order{
		ID:         uuid.MustParse("0190a0e8-1111-7000-8000-000000000001"),
		CustomerID: "cust-1",
		Status:     status,
		Lines: []domain.Line{{
			ProductID: uuid.MustParse(prodA), SKU: "SKU-A", Name: "A", Quantity: 2,
			UnitPrice: domain.Money{AmountMinor: 250, CurrencyCode: "EUR"},
			LineTotal: domain.Money{AmountMinor: 500, CurrencyCode: "EUR"},
		}},
		Total:     domain.Money{AmountMinor: 500, CurrencyCode: "EUR"},
		CreatedAt: created,
		UpdatedAt: created,
	}
	if status == domain.StatusCancelled {
		o.CancelledAt = created.Add(time.Minute)
		o.UpdatedAt = o.CancelledAt
	}
	return o
}

func TestPlaceOrderResponseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, st := range []domain.Status{domain.StatusConfirmed, domain.StatusCancelled} {
		t.Run(st.String(), func(t *testing.T) {
			t.Parallel()
			o := sampleOrder(t, st)
			b, err := contract.EncodePlaceOrderResponse(o)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := contract.DecodePlaceOrderResponse(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(o, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s", diff)
			}
			// A replayed response is byte for byte the stored one.
			again, err := contract.EncodePlaceOrderResponse(got)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(b, again) {
				t.Error("re-encoded response differs from the stored bytes")
			}
		})
	}
}

func TestOrderMessage(t *testing.T) {
	t.Parallel()
	o := sampleOrder(t, domain.StatusConfirmed)
	got := contract.Order(o)
	want := &ordersv1.Order{
		Id:         o.ID.String(),
		CustomerId: "cust-1",
		Status:     ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED,
		Lines: []*ordersv1.OrderLine{{
			ProductId: prodA, Sku: "SKU-A", Name: "A", Quantity: 2,
			UnitPrice: &ordersv1.Money{AmountMinor: 250, CurrencyCode: "EUR"},
			LineTotal: &ordersv1.Money{AmountMinor: 500, CurrencyCode: "EUR"},
		}},
		Total:     &ordersv1.Money{AmountMinor: 500, CurrencyCode: "EUR"},
		CreatedAt: got.GetCreatedAt(),
		UpdatedAt: got.GetUpdatedAt(),
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Order mismatch (-want +got):\n%s", diff)
	}
	if got.GetCancelledAt() != nil {
		t.Error("confirmed order has cancelled_at")
	}
	if !got.GetCreatedAt().AsTime().Equal(o.CreatedAt) {
		t.Errorf("created_at = %v, want %v", got.GetCreatedAt().AsTime(), o.CreatedAt)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	o := sampleOrder(t, domain.StatusCancelled)
	o.CancelReason = "duplicate"
	placed := contract.OrderPlaced(o)
	if placed.GetOrderId() != o.ID.String() || placed.GetTotal().GetAmountMinor() != 500 || len(placed.GetLines()) != 1 {
		t.Errorf("OrderPlaced = %v", placed)
	}
	cancelled := contract.OrderCancelled(o)
	want := &ordersv1.OrderCancelled{
		OrderId:    o.ID.String(),
		CustomerId: "cust-1",
		Lines:      contract.Lines(o.Lines),
		Reason:     "duplicate",
		OccurredAt: cancelled.GetOccurredAt(),
	}
	if diff := cmp.Diff(want, cancelled, protocmp.Transform()); diff != "" {
		t.Errorf("OrderCancelled mismatch (-want +got):\n%s", diff)
	}
	if !cancelled.GetOccurredAt().AsTime().Equal(o.CancelledAt) {
		t.Errorf("occurred_at = %v, want the cancel time %v", cancelled.GetOccurredAt().AsTime(), o.CancelledAt)
	}
	if _, err := proto.Marshal(cancelled); err != nil {
		t.Errorf("marshal OrderCancelled: %v", err)
	}
}
