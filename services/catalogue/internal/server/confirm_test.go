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
// survives the sweep that expires one left active, and one that ended first
// cannot be confirmed.
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
	abandoned := newOrderID(t)
	e.reserve(in, abandoned, pid, 2)
	eventually(t, "the abandoned reservation to expire", func() bool {
		return e.reservationStatus(abandoned) == "EXPIRED"
	})

	t.Run("confirmed survives the TTL sweep", func(t *testing.T) {
		if got := e.reservationStatus(order); got != "CONFIRMED" {
			t.Errorf("status past the TTL = %q, want CONFIRMED", got)
		}
		if got := e.stockOf(pid); got != 7 {
			t.Errorf("stock past the TTL = %d, want 7 (held by the order, the abandoned 2 returned)", got)
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

	t.Run("ended reservations cannot be confirmed", func(t *testing.T) {
		tests := []struct {
			name   string
			id     uuid.UUID
			status string
		}{
			{name: "expired", id: abandoned, status: "EXPIRED"},
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
		if got := e.stockOf(pid); got != 7 {
			t.Errorf("stock after refused confirms = %d, want 7 (nothing taken again)", got)
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
