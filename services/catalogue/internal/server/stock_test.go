package server_test

import (
	"sync"
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

func item(productID string, quantity int32) *cataloguev1.ReservationItem {
	return &cataloguev1.ReservationItem{ProductId: productID, Quantity: quantity}
}

func items(its ...*cataloguev1.ReservationItem) []*cataloguev1.ReservationItem { return its }

func TestReserveAndRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	ctx := t.Context()
	a := e.createProduct(in, product("Apple", 10)).GetId()
	b := e.createProduct(in, product("Banana", 3)).GetId()
	reservation := uuid.NewString()

	reserve := func(id string, its []*cataloguev1.ReservationItem, opts ...grpc.CallOption) (*cataloguev1.Reservation, error) {
		if opts == nil {
			opts = []grpc.CallOption{e.service()}
		}
		resp, err := in.client.ReserveStock(ctx, &cataloguev1.ReserveStockRequest{ReservationId: id, Items: its}, opts...)
		return resp.GetReservation(), err
	}

	first, err := reserve(reservation, items(item(b, 2), item(a, 4)))
	if err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if first.GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_ACTIVE || len(first.GetItems()) != 2 ||
		!first.GetExpiresAt().AsTime().After(first.GetCreatedAt().AsTime()) {
		t.Errorf("reservation = %v", first)
	}
	if got := []int64{e.stockOf(a), e.stockOf(b)}; !cmp.Equal(got, []int64{6, 1}) {
		t.Errorf("stock after reserving = %v, want [6 1]", got)
	}

	t.Run("repeat is idempotent", func(t *testing.T) {
		again, err := reserve(reservation, items(item(a, 4), item(b, 2)))
		if err != nil {
			t.Fatalf("repeat: %v", err)
		}
		if diff := cmp.Diff(first, again, protocmp.Transform()); diff != "" {
			t.Errorf("repeat result (-first +again):\n%s", diff)
		}
		if got := []int64{e.stockOf(a), e.stockOf(b)}; !cmp.Equal(got, []int64{6, 1}) {
			t.Errorf("stock after repeat = %v, want unchanged [6 1]", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		unknown := "0193a3c4-0000-7000-8000-000000000000"
		tests := []struct {
			name  string
			id    string
			items []*cataloguev1.ReservationItem
			opts  []grpc.CallOption
			want  codes.Code
		}{
			{name: "same id other items", id: reservation, items: items(item(a, 1)), want: codes.AlreadyExists},
			{name: "insufficient stock", id: uuid.NewString(), items: items(item(a, 1), item(b, 2)), want: codes.FailedPrecondition},
			{name: "unknown product", id: uuid.NewString(), items: items(item(a, 1), item(unknown, 1)), want: codes.NotFound},
			{name: "zero quantity", id: uuid.NewString(), items: items(item(a, 0)), want: codes.InvalidArgument},
			{name: "repeated product", id: uuid.NewString(), items: items(item(a, 1), item(a, 1)), want: codes.InvalidArgument},
			{name: "bad id", id: "r-1", items: items(item(a, 1)), want: codes.InvalidArgument},
			{name: "customer role", id: uuid.NewString(), items: items(item(a, 1)), opts: []grpc.CallOption{e.as("customer")}, want: codes.PermissionDenied},
			{name: "no token", id: uuid.NewString(), items: items(item(a, 1)), opts: []grpc.CallOption{grpc.EmptyCallOption{}}, want: codes.Unauthenticated},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := reserve(tt.id, tt.items, tt.opts...); code(err) != tt.want {
					t.Errorf("code = %v (%v), want %v", code(err), err, tt.want)
				}
			})
		}
		// All or nothing: the failed reservations took nothing.
		if got := []int64{e.stockOf(a), e.stockOf(b)}; !cmp.Equal(got, []int64{6, 1}) {
			t.Errorf("stock after failures = %v, want unchanged [6 1]", got)
		}
	})

	t.Run("shortage names the product", func(t *testing.T) {
		_, err := reserve(uuid.NewString(), items(item(a, 1), item(b, 5)))
		var pf *errdetails.PreconditionFailure
		for _, d := range status.Convert(err).Details() {
			if v, ok := d.(*errdetails.PreconditionFailure); ok {
				pf = v
			}
		}
		want := &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
			{Type: "STOCK", Subject: "products/" + b, Description: "requested 5, available 1"},
		}}
		if diff := cmp.Diff(want, pf, protocmp.Transform()); diff != "" {
			t.Errorf("precondition failure (-want +got):\n%s", diff)
		}
	})

	t.Run("admin may reserve", func(t *testing.T) {
		id := uuid.NewString()
		if _, err := reserve(id, items(item(a, 1)), e.admin()); err != nil {
			t.Fatalf("reserve as admin: %v", err)
		}
		if _, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: id}, e.admin()); err != nil {
			t.Fatalf("release as admin: %v", err)
		}
	})

	t.Run("release restores once", func(t *testing.T) {
		release := func() (*cataloguev1.Reservation, error) {
			resp, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: reservation}, e.service())
			return resp.GetReservation(), err
		}
		r, err := release()
		if err != nil {
			t.Fatalf("release: %v", err)
		}
		if r.GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED {
			t.Errorf("status = %v, want RELEASED", r.GetStatus())
		}
		for range 2 {
			again, err := release()
			if err != nil {
				t.Fatalf("release again: %v", err)
			}
			if diff := cmp.Diff(r, again, protocmp.Transform()); diff != "" {
				t.Errorf("repeated release (-first +again):\n%s", diff)
			}
		}
		if got := []int64{e.stockOf(a), e.stockOf(b)}; !cmp.Equal(got, []int64{10, 3}) {
			t.Errorf("stock after releases = %v, want [10 3]", got)
		}
		// A released reservation id is spent: repeating it returns it as is.
		repeat, err := reserve(reservation, items(item(a, 4), item(b, 2)))
		if err != nil || repeat.GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED {
			t.Errorf("reserve with a released id = %v, %v; want the released reservation", repeat, err)
		}
		if got := e.stockOf(a); got != 10 {
			t.Errorf("stock after reusing a released id = %d, want 10", got)
		}
	})

	t.Run("release errors", func(t *testing.T) {
		tests := []struct {
			name string
			id   string
			opts []grpc.CallOption
			want codes.Code
		}{
			{name: "unknown", id: uuid.NewString(), opts: []grpc.CallOption{e.service()}, want: codes.NotFound},
			{name: "bad id", id: "nope", opts: []grpc.CallOption{e.service()}, want: codes.InvalidArgument},
			{name: "customer role", id: reservation, opts: []grpc.CallOption{e.as("customer")}, want: codes.PermissionDenied},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: tt.id}, tt.opts...)
				if code(err) != tt.want {
					t.Errorf("code = %v (%v), want %v", code(err), err, tt.want)
				}
			})
		}
	})
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	id := e.createProduct(in, product("Scarce", 10)).GetId()

	const callers = 200
	codesSeen := make([]codes.Code, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			_, err := in.client.ReserveStock(t.Context(), &cataloguev1.ReserveStockRequest{
				ReservationId: uuid.NewString(), Items: items(item(id, 1)),
			}, e.service())
			codesSeen[i] = code(err)
		})
	}
	close(start)
	wg.Wait()

	count := map[codes.Code]int{}
	for _, c := range codesSeen {
		count[c]++
	}
	want := map[codes.Code]int{codes.OK: 10, codes.FailedPrecondition: callers - 10}
	if diff := cmp.Diff(want, count); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if got := e.stockOf(id); got != 0 {
		t.Errorf("stock = %d, want 0", got)
	}
	var active int
	if err := e.pool().QueryRow(t.Context(), `SELECT count(*) FROM reservations WHERE status = 'ACTIVE'`).Scan(&active); err != nil {
		t.Fatalf("count reservations: %v", err)
	}
	if active != 10 {
		t.Errorf("active reservations = %d, want 10", active)
	}
}

func TestOppositeOrderReservationsDoNotDeadlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	const initial = 1000
	a := e.createProduct(in, product("Left", initial)).GetId()
	b := e.createProduct(in, product("Right", initial)).GetId()

	const workers, rounds = 8, 25
	type outcome struct {
		reserved, released int
		errs               []error
	}
	results := make([]outcome, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			res := &results[w]
			for r := range rounds {
				// Even workers list a then b, odd ones b then a.
				its := items(item(a, 1), item(b, 2))
				if w%2 == 1 {
					its = items(item(b, 2), item(a, 1))
				}
				id := uuid.NewString()
				if _, err := in.client.ReserveStock(t.Context(), &cataloguev1.ReserveStockRequest{ReservationId: id, Items: its}, e.service()); err != nil {
					res.errs = append(res.errs, err)
					continue
				}
				res.reserved++
				if r%2 == 0 {
					if _, err := in.client.ReleaseStock(t.Context(), &cataloguev1.ReleaseStockRequest{ReservationId: id}, e.service()); err != nil {
						res.errs = append(res.errs, err)
						continue
					}
					res.released++
				}
			}
		})
	}
	wg.Wait()

	held := 0
	for w, res := range results {
		for _, err := range res.errs {
			t.Errorf("worker %d: %v", w, err)
		}
		held += res.reserved - res.released
	}
	if held != workers*(rounds/2) {
		t.Errorf("reservations held = %d, want %d", held, workers*(rounds/2))
	}
	if got, want := []int64{e.stockOf(a), e.stockOf(b)}, []int64{int64(initial - held), int64(initial - 2*held)}; !cmp.Equal(got, want) {
		t.Errorf("stock = %v, want %v", got, want)
	}
}

func TestReservationExpiresAfterTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(map[string]string{"RESERVATION_TTL": "500ms", "RESERVATION_SWEEP_INTERVAL": "100ms"})
	ctx := t.Context()
	id := e.createProduct(in, product("Perishable", 5)).GetId()
	reservation := uuid.NewString()
	if _, err := in.client.ReserveStock(ctx, &cataloguev1.ReserveStockRequest{ReservationId: reservation, Items: items(item(id, 3))}, e.service()); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	// Read through the API: the expiry's event also refreshes the cache.
	eventually(t, "the reservation to expire", func() bool {
		resp, err := in.client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: id})
		return err == nil && resp.GetProduct().GetStockQty() == 5
	})
	resp, err := in.client.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: reservation}, e.service())
	if err != nil {
		t.Fatalf("release after expiry: %v", err)
	}
	// Released for good, so a late confirmation cannot reinstate it.
	if resp.GetReservation().GetStatus() != cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED {
		t.Errorf("status = %v, want RELEASED", resp.GetReservation().GetStatus())
	}
	if got := e.stockOf(id); got != 5 {
		t.Errorf("stock after releasing an expired reservation = %d, want 5 (restored once)", got)
	}
}
