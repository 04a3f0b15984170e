package server_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

// ConfirmReservation is how orders hand a reservation to an order the moment
// it commits, without waiting for OrderPlaced: a confirmed reservation
// survives the sweep that expires one left active, an expired one is
// reinstated when its stock is still there, and one that was released, or
// expired with its stock gone, cannot be confirmed.
func TestConfirmReservation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(map[string]string{"RESERVATION_TTL": placedTTL, "RESERVATION_SWEEP_INTERVAL": "100ms"})
	ctx := t.Context()
	pid := e.createProduct(in, product("Confirmable", 10)).GetId()

	confirm := func(id string, opts ...grpc.CallOption) (*cataloguev1.Reservation, error) {
		if opts == nil {
			opts = []grpc.CallOption{e.service()}
		}
		resp, err := in.client.ConfirmReservation(ctx, &cataloguev1.ConfirmReservationRequest{ReservationId: id}, opts...)
		return resp.GetReservation(), err
	}

	order := newOrderID(t)
	e.reserve(in, order, pid, 3)
	first, err := confirm(order.String())
	if err != nil {
		t.Fatalf("confirm: %v (did it come after the %s TTL?)", err, placedTTL)
	}
	if first.GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_CONFIRMED || first.GetId() != order.String() ||
		len(first.GetItems()) != 1 || first.GetItems()[0].GetQuantity() != 3 {
		t.Errorf("confirmed reservation = %v, want order %s CONFIRMED with 3 of one product", first, order)
	}
	if got := e.reservationStatus(order); got != "CONFIRMED" {
		t.Errorf("stored status = %q, want CONFIRMED", got)
	}

	t.Run("repeat is idempotent", func(t *testing.T) {
		for i := range 2 {
			again, err := confirm(order.String())
			if err != nil {
				t.Fatalf("confirm again (%d): %v", i+1, err)
			}
			if diff := cmp.Diff(first, again, protocmp.Transform()); diff != "" {
				t.Errorf("repeated confirm (-first +again):\n%s", diff)
			}
		}
		if got := e.stockOf(pid); got != 7 {
			t.Errorf("stock after confirming = %d, want 7 (confirming takes nothing more)", got)
		}
	})

	// Reserved after the order's, with the same TTL: it expires no earlier,
	// so the sweep that expires it is past the order's TTL too.
	abandoned, abandonedBig := newOrderID(t), newOrderID(t)
	e.reserve(in, abandoned, pid, 2)
	e.reserve(in, abandonedBig, pid, 5)
	eventually(t, "the abandoned reservations to expire", func() bool {
		return e.reservationStatus(abandoned) == "EXPIRED" && e.reservationStatus(abandonedBig) == "EXPIRED"
	})

	t.Run("confirmed survives the TTL sweep", func(t *testing.T) {
		if got := e.reservationStatus(order); got != "CONFIRMED" {
			t.Errorf("status past the TTL = %q, want CONFIRMED", got)
		}
		if got := e.stockOf(pid); got != 7 {
			t.Errorf("stock past the TTL = %d, want 7 (held by the order, the abandoned 2 and 5 returned)", got)
		}
		if got := e.stockEvents(order, "expire"); got != 0 {
			t.Errorf("StockChanged events expiring the confirmed reservation = %d, want 0", got)
		}
		again, err := confirm(order.String())
		if err != nil || again.GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_CONFIRMED {
			t.Errorf("confirm past the TTL = %v, %v; want the confirmed reservation", again, err)
		}
	})

	released := newOrderID(t)
	e.reserve(in, released, pid, 1)
	if _, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: released.String()}, e.service()); err != nil {
		t.Fatalf("release: %v", err)
	}

	// A late confirmation of an expired reservation takes its stock again
	// when every item still has enough.
	t.Run("expired reservation is reinstated while stock allows", func(t *testing.T) {
		for i := range 2 {
			got, err := confirm(abandoned.String())
			if err != nil || got.GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_CONFIRMED {
				t.Fatalf("confirm expired reservation (%d) = %v, %v; want it CONFIRMED", i+1, got, err)
			}
		}
		if got := e.reservationStatus(abandoned); got != "CONFIRMED" {
			t.Errorf("stored status = %q, want CONFIRMED", got)
		}
		if got := e.stockOf(pid); got != 5 {
			t.Errorf("stock after reinstating = %d, want 5 (its 2 taken again, once)", got)
		}
		if got := e.stockEvents(abandoned, "reinstate"); got != 1 {
			t.Errorf("StockChanged events reinstating = %d, want 1", got)
		}
	})

	// Stock is now 5 and the big reservation wants 5: after a write-off of
	// one it cannot be reinstated, and stays expired.
	if _, err := in.client.AdjustStock(ctx, &cataloguev1.AdjustStockRequest{ProductId: pid, Delta: -1}, e.admin()); err != nil {
		t.Fatalf("adjust stock: %v", err)
	}

	t.Run("ended reservations cannot be confirmed", func(t *testing.T) {
		tests := []struct {
			name   string
			id     uuid.UUID
			status string
		}{
			{name: "expired and short of stock", id: abandonedBig, status: "EXPIRED"},
			{name: "released", id: released, status: "RELEASED"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := confirm(tt.id.String())
				if code(err) != codes.FailedPrecondition {
					t.Fatalf("confirm %s reservation: %v, want FAILED_PRECONDITION", tt.name, err)
				}
				msg := status.Convert(err).Message()
				for _, want := range []string{tt.id.String(), tt.status} {
					if !strings.Contains(msg, want) {
						t.Errorf("message %q does not name %q", msg, want)
					}
				}
				var pf *errdetails.PreconditionFailure
				for _, d := range status.Convert(err).Details() {
					if v, ok := d.(*errdetails.PreconditionFailure); ok {
						pf = v
					}
				}
				want := &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
					Type: "RESERVATION_STATUS", Subject: "reservations/" + tt.id.String(), Description: "reservation is " + tt.status,
				}}}
				if diff := cmp.Diff(want, pf, protocmp.Transform()); diff != "" {
					t.Errorf("precondition failure (-want +got):\n%s", diff)
				}
				if got := e.reservationStatus(tt.id); got != tt.status {
					t.Errorf("status after the refused confirm = %q, want %s", got, tt.status)
				}
			})
		}
		if got := e.stockOf(pid); got != 4 {
			t.Errorf("stock after refused confirms = %d, want 4 (nothing taken again)", got)
		}
		if got := e.stockEvents(abandonedBig, "reinstate"); got != 0 {
			t.Errorf("StockChanged events reinstating the short reservation = %d, want 0", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name string
			id   string
			opts []grpc.CallOption
			want codes.Code
		}{
			{name: "unknown", id: newOrderID(t).String(), want: codes.NotFound},
			{name: "bad id", id: "order-1", want: codes.InvalidArgument},
			{name: "customer role", id: order.String(), opts: []grpc.CallOption{e.as("customer")}, want: codes.PermissionDenied},
			{name: "no token", id: order.String(), opts: []grpc.CallOption{grpc.EmptyCallOption{}}, want: codes.Unauthenticated},
			{name: "admin may confirm", id: order.String(), opts: []grpc.CallOption{e.admin()}, want: codes.OK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := confirm(tt.id, tt.opts...); code(err) != tt.want {
					t.Errorf("code = %v (%v), want %v", code(err), err, tt.want)
				}
			})
		}
	})
}
