package contract_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

func TestStockChangedRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 4, 5, 6, 7, 8000, time.UTC)
	tests := []domain.StockChange{
		{ProductID: uuid.New(), Available: 3, Delta: -2, Reason: domain.ReasonReserve, ReservationID: uuid.New(), At: at},
		{ProductID: uuid.New(), Available: 10, Delta: 5, Reason: domain.ReasonAdjust, At: at},
	}
	for _, c := range tests {
		e := contract.StockChanged(c)
		if c.ReservationID == uuid.Nil && e.GetReservationId() != "" {
			t.Errorf("adjustment carries reservation id %q", e.GetReservationId())
		}
		got, err := contract.StockChange(e)
		if err != nil {
			t.Fatalf("convert back: %v", err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	if _, err := contract.StockChange(&cataloguev1.StockChanged{ProductId: "nope"}); err == nil {
		t.Error("bad product id: got nil error")
	}
}

func TestReservation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status domain.ReservationStatus
		want   cataloguev1.ReservationStatus
	}{
		{domain.ReservationActive, cataloguev1.ReservationStatus_RESERVATION_STATUS_ACTIVE},
		{domain.ReservationReleased, cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED},
		{domain.ReservationExpired, cataloguev1.ReservationStatus_RESERVATION_STATUS_EXPIRED},
		{domain.ReservationConfirmed, cataloguev1.ReservationStatus_RESERVATION_STATUS_CONFIRMED},
		{0, cataloguev1.ReservationStatus_RESERVATION_STATUS_UNSPECIFIED},
	}
	for _, tt := range tests {
		pid := uuid.New()
		r := contract.Reservation(domain.Reservation{ID: uuid.New(), Status: tt.status, Items: []domain.ReservationItem{{ProductID: pid, Quantity: 2}}})
		if r.GetStatus() != tt.want {
			t.Errorf("status %v = %v, want %v", tt.status, r.GetStatus(), tt.want)
		}
		if len(r.GetItems()) != 1 || r.GetItems()[0].GetProductId() != pid.String() || r.GetItems()[0].GetQuantity() != 2 {
			t.Errorf("items = %v", r.GetItems())
		}
	}
}

func TestReservationItemsNamesBadField(t *testing.T) {
	t.Parallel()
	_, err := contract.ReservationItems([]*cataloguev1.ReservationItem{{ProductId: uuid.NewString(), Quantity: 1}, {ProductId: "x", Quantity: 1}})
	want := "invalid argument: items[1].product_id: must be a UUID"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestOrderEventReservation(t *testing.T) {
	t.Parallel()
	order := uuid.MustParse("0193a3c4-0000-7000-8000-0000000000aa")
	events := map[string]func(orderID string) (uuid.UUID, error){
		"placed": func(orderID string) (uuid.UUID, error) {
			return contract.PlacedReservation(&ordersv1.OrderPlaced{OrderId: orderID})
		},
		"cancelled": func(orderID string) (uuid.UUID, error) {
			return contract.CancelledReservation(&ordersv1.OrderCancelled{OrderId: orderID})
		},
	}
	tests := []struct {
		name    string
		orderID string
		want    uuid.UUID
		wantErr bool
	}{
		{name: "order id", orderID: order.String(), want: order},
		{name: "empty", orderID: "", wantErr: true},
		{name: "not a uuid", orderID: "order-1", wantErr: true},
		{name: "nil uuid", orderID: uuid.Nil.String(), wantErr: true},
	}
	for event, reservation := range events {
		for _, tt := range tests {
			t.Run(event+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				got, err := reservation(tt.orderID)
				if (err != nil) != tt.wantErr {
					t.Fatalf("error = %v, want error: %t", err, tt.wantErr)
				}
				if got != tt.want {
					t.Errorf("reservation = %s, want %s", got, tt.want)
				}
			})
		}
	}
}
