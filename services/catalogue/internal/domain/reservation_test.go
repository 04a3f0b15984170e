package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

var (
	pa = uuid.MustParse("00000000-0000-7000-8000-00000000000a")
	pb = uuid.MustParse("00000000-0000-7000-8000-00000000000b")
	pc = uuid.MustParse("f0000000-0000-7000-8000-00000000000c")
)

func TestNewReservation(t *testing.T) {
	t.Parallel()
	rid := uuid.New()
	tests := []struct {
		name    string
		id      uuid.UUID
		items   []domain.ReservationItem
		want    []domain.ReservationItem
		wantErr bool
	}{
		{
			name:  "sorted by product id",
			id:    rid,
			items: []domain.ReservationItem{{ProductID: pc, Quantity: 1}, {ProductID: pa, Quantity: 2}, {ProductID: pb, Quantity: 3}},
			want:  []domain.ReservationItem{{ProductID: pa, Quantity: 2}, {ProductID: pb, Quantity: 3}, {ProductID: pc, Quantity: 1}},
		},
		{name: "nil id", id: uuid.Nil, items: []domain.ReservationItem{{ProductID: pa, Quantity: 1}}, wantErr: true},
		{name: "no items", id: rid, wantErr: true},
		{name: "zero quantity", id: rid, items: []domain.ReservationItem{{ProductID: pa}}, wantErr: true},
		{
			name:    "repeated product",
			id:      rid,
			items:   []domain.ReservationItem{{ProductID: pa, Quantity: 1}, {ProductID: pb, Quantity: 1}, {ProductID: pa, Quantity: 2}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.NewReservation(tt.id, tt.items)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSameItems(t *testing.T) {
	t.Parallel()
	r := domain.Reservation{Items: []domain.ReservationItem{{ProductID: pa, Quantity: 1}, {ProductID: pb, Quantity: 2}}}
	tests := []struct {
		name  string
		items []domain.ReservationItem
		want  bool
	}{
		{name: "same order", items: r.Items, want: true},
		{name: "other order", items: []domain.ReservationItem{{ProductID: pb, Quantity: 2}, {ProductID: pa, Quantity: 1}}, want: true},
		{name: "other quantity", items: []domain.ReservationItem{{ProductID: pa, Quantity: 1}, {ProductID: pb, Quantity: 3}}},
		{name: "fewer items", items: []domain.ReservationItem{{ProductID: pa, Quantity: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := r.SameItems(tt.items); got != tt.want {
				t.Errorf("SameItems = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReleaseRestoresOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from        domain.ReservationStatus
		wantRestore bool
		wantStatus  domain.ReservationStatus
	}{
		{from: domain.ReservationActive, wantRestore: true, wantStatus: domain.ReservationReleased},
		{from: domain.ReservationConfirmed, wantRestore: true, wantStatus: domain.ReservationReleased},
		{from: domain.ReservationReleased, wantStatus: domain.ReservationReleased},
		// Its stock went back at expiry; released, it can't be reinstated.
		{from: domain.ReservationExpired, wantStatus: domain.ReservationReleased},
	}
	for _, tt := range tests {
		t.Run(tt.from.String(), func(t *testing.T) {
			t.Parallel()
			r := domain.Reservation{Status: tt.from}
			if got := r.Release(); got != tt.wantRestore {
				t.Errorf("Release() = %v, want %v", got, tt.wantRestore)
			}
			if r.Status != tt.wantStatus {
				t.Errorf("status = %v, want %v", r.Status, tt.wantStatus)
			}
			if r.Release() {
				t.Error("second Release() restored stock again")
			}
		})
	}
}

func TestReinstateOnlyExpired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from        domain.ReservationStatus
		wantChanged bool
		wantStatus  domain.ReservationStatus
	}{
		{from: domain.ReservationExpired, wantChanged: true, wantStatus: domain.ReservationConfirmed},
		{from: domain.ReservationActive, wantStatus: domain.ReservationActive},
		{from: domain.ReservationConfirmed, wantStatus: domain.ReservationConfirmed},
		{from: domain.ReservationReleased, wantStatus: domain.ReservationReleased},
	}
	for _, tt := range tests {
		t.Run(tt.from.String(), func(t *testing.T) {
			t.Parallel()
			r := domain.Reservation{Status: tt.from}
			if got := r.Reinstate(); got != tt.wantChanged {
				t.Errorf("Reinstate() = %v, want %v", got, tt.wantChanged)
			}
			if r.Status != tt.wantStatus {
				t.Errorf("status = %v, want %v", r.Status, tt.wantStatus)
			}
			if r.Reinstate() {
				t.Error("second Reinstate() changed the reservation again")
			}
		})
	}
}

func TestConfirmOnlyActive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from        domain.ReservationStatus
		wantChanged bool
		wantStatus  domain.ReservationStatus
	}{
		{from: domain.ReservationActive, wantChanged: true, wantStatus: domain.ReservationConfirmed},
		{from: domain.ReservationConfirmed, wantStatus: domain.ReservationConfirmed},
		{from: domain.ReservationReleased, wantStatus: domain.ReservationReleased},
		{from: domain.ReservationExpired, wantStatus: domain.ReservationExpired},
	}
	for _, tt := range tests {
		t.Run(tt.from.String(), func(t *testing.T) {
			t.Parallel()
			r := domain.Reservation{Status: tt.from}
			if got := r.Confirm(); got != tt.wantChanged {
				t.Errorf("Confirm() = %v, want %v", got, tt.wantChanged)
			}
			if r.Status != tt.wantStatus {
				t.Errorf("status = %v, want %v", r.Status, tt.wantStatus)
			}
			if r.Confirm() {
				t.Error("second Confirm() changed the reservation again")
			}
		})
	}
}

func TestCheckConfirmed(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("0193a3c4-0000-7000-8000-0000000000c1")
	tests := []struct {
		status    domain.ReservationStatus
		wantEnded bool
		wantErr   bool
	}{
		{status: domain.ReservationConfirmed},
		{status: domain.ReservationReleased, wantEnded: true, wantErr: true},
		{status: domain.ReservationExpired, wantEnded: true, wantErr: true},
		{status: domain.ReservationActive, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.status.String(), func(t *testing.T) {
			t.Parallel()
			err := domain.Reservation{ID: id, Status: tt.status}.CheckConfirmed()
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckConfirmed() = %v, want error %t", err, tt.wantErr)
			}
			var ended *domain.ReservationEndedError
			if got := errors.As(err, &ended); got != tt.wantEnded {
				t.Fatalf("CheckConfirmed() = %v; ReservationEndedError %t, want %t", err, got, tt.wantEnded)
			}
			if !tt.wantEnded {
				return
			}
			if !errors.Is(err, domain.ErrReservationEnded) {
				t.Errorf("errors.Is(%v, ErrReservationEnded) = false", err)
			}
			for _, want := range []string{id.String(), tt.status.String()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not name %q", err.Error(), want)
				}
			}
		})
	}
}

func TestHoldsStock(t *testing.T) {
	t.Parallel()
	want := map[domain.ReservationStatus]bool{
		domain.ReservationActive:    true,
		domain.ReservationConfirmed: true,
		domain.ReservationReleased:  false,
		domain.ReservationExpired:   false,
		0:                           false,
	}
	got := make(map[domain.ReservationStatus]bool, len(want))
	for s := range want {
		got[s] = s.HoldsStock()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HoldsStock (-want +got):\n%s", diff)
	}
}

func TestReservationStatusRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []domain.ReservationStatus{domain.ReservationActive, domain.ReservationReleased, domain.ReservationExpired, domain.ReservationConfirmed} {
		got, ok := domain.ParseReservationStatus(s.String())
		if !ok || got != s {
			t.Errorf("ParseReservationStatus(%q) = %v, %v", s.String(), got, ok)
		}
	}
	if _, ok := domain.ParseReservationStatus("PENDING"); ok {
		t.Error("ParseReservationStatus(PENDING) succeeded")
	}
}

func TestCheckStock(t *testing.T) {
	t.Parallel()
	items := []domain.ReservationItem{{ProductID: pa, Quantity: 2}, {ProductID: pb, Quantity: 5}, {ProductID: pc, Quantity: 1}}
	err := domain.CheckStock(items, map[uuid.UUID]int64{pa: 2, pb: 4, pc: 0})
	var short *domain.InsufficientStockError
	if !errors.As(err, &short) {
		t.Fatalf("err = %v, want *InsufficientStockError", err)
	}
	want := []domain.Shortage{{ProductID: pb, Requested: 5, Available: 4}, {ProductID: pc, Requested: 1, Available: 0}}
	if diff := cmp.Diff(want, short.Shortages); diff != "" {
		t.Errorf("shortages (-want +got):\n%s", diff)
	}
	if err := domain.CheckStock(items, map[uuid.UUID]int64{pa: 2, pb: 5, pc: 1}); err != nil {
		t.Errorf("exact stock: err = %v", err)
	}
}
