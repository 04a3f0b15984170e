package domain

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
)

// MaxReservationItems bounds the lines of one reservation.
const MaxReservationItems = 100

// ReservationStatus is where a reservation is in its life.
type ReservationStatus int

// A reservation starts Active. Placing the order that made it confirms it:
// a Confirmed reservation holds its stock past the TTL. Either ends Released
// (by the caller, or because the order was cancelled); only an Active one
// ends Expired (by the sweeper, after its TTL). Stock goes back only when a
// reservation that holds it ends, so it is restored exactly once. An Expired
// reservation whose order was placed after all is reinstated as Confirmed
// when its stock can be taken again; releasing an Expired one (its order was
// cancelled) makes it Released, and a Released one never comes back.
const (
	ReservationActive ReservationStatus = iota + 1
	ReservationReleased
	ReservationExpired
	ReservationConfirmed
)

// String returns the status as stored in the database.
func (s ReservationStatus) String() string {
	switch s {
	case ReservationActive:
		return "ACTIVE"
	case ReservationReleased:
		return "RELEASED"
	case ReservationExpired:
		return "EXPIRED"
	case ReservationConfirmed:
		return "CONFIRMED"
	}
	return "UNSPECIFIED"
}

// HoldsStock reports whether a reservation in this status still holds its
// stock, which goes back when it ends.
func (s ReservationStatus) HoldsStock() bool {
	return s == ReservationActive || s == ReservationConfirmed
}

// ParseReservationStatus is the inverse of String.
func ParseReservationStatus(s string) (ReservationStatus, bool) {
	for _, st := range []ReservationStatus{ReservationActive, ReservationReleased, ReservationExpired, ReservationConfirmed} {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// ReservationItem is one line of a reservation.
type ReservationItem struct {
	ProductID uuid.UUID
	Quantity  int32
}

// Reservation holds stock for a while, all items or none.
type Reservation struct {
	ID        uuid.UUID
	Items     []ReservationItem
	Status    ReservationStatus
	CreatedAt time.Time
	ExpiresAt time.Time
}

// NewReservation checks a reservation request and returns its items sorted
// by product id: the order in which rows are locked everywhere, so that two
// reservations can never wait on each other.
func NewReservation(id uuid.UUID, items []ReservationItem) ([]ReservationItem, error) {
	if id == uuid.Nil {
		return nil, apperr.Invalid("reservation_id", "must be a UUID")
	}
	if len(items) == 0 || len(items) > MaxReservationItems {
		return nil, apperr.Invalid("items", "must hold 1 to 100 items")
	}
	sorted := SortedItems(items)
	for i, it := range sorted {
		if it.Quantity <= 0 || it.Quantity > 10000 {
			return nil, apperr.Invalid("items", "quantities must be 1 to 10000")
		}
		if i > 0 && sorted[i-1].ProductID == it.ProductID {
			return nil, apperr.Invalid("items", "each product may appear only once")
		}
	}
	return sorted, nil
}

// SortedItems returns a copy of items ordered by product id, byte-wise as
// Postgres orders uuids.
func SortedItems(items []ReservationItem) []ReservationItem {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b ReservationItem) int {
		return bytes.Compare(a.ProductID[:], b.ProductID[:])
	})
	return sorted
}

// SameItems reports whether r holds exactly items, in any order. A repeated
// reservation id must come with the same items to count as a retry.
func (r Reservation) SameItems(items []ReservationItem) bool {
	return slices.Equal(SortedItems(r.Items), SortedItems(items))
}

// Release ends a reservation for good and reports whether its stock must
// go back. An active or confirmed reservation becomes released and gives
// its stock back. An expired one, whose stock the sweeper gave back
// already, becomes released too, so that a late confirmation of an order
// that was cancelled in the meantime cannot reinstate it. Releasing a
// released reservation changes nothing.
func (r *Reservation) Release() bool {
	switch {
	case r.Status.HoldsStock():
		r.Status = ReservationReleased
		return true
	case r.Status == ReservationExpired:
		r.Status = ReservationReleased
	}
	return false
}

// ConfirmResult is what confirming a reservation did.
type ConfirmResult int

const (
	// ConfirmUnchanged means the reservation was confirmed already, or it
	// ended and could not be reinstated.
	ConfirmUnchanged ConfirmResult = iota
	// ConfirmConfirmed means an active reservation was confirmed.
	ConfirmConfirmed
	// ConfirmReinstated means an expired reservation took its stock again
	// and was confirmed.
	ConfirmReinstated
)

// Confirm hands an active reservation to the order that was placed with it,
// so that it no longer expires, and reports whether it changed. A confirmed
// reservation stays as it is; one that ended cannot hold its stock again.
func (r *Reservation) Confirm() bool {
	if r.Status != ReservationActive {
		return false
	}
	r.Status = ReservationConfirmed
	return true
}

// Reinstate confirms an expired reservation whose order was placed after
// all, once the caller has taken its stock again, and reports whether it
// changed. Only an expired reservation can be reinstated: a released one
// was given up by its order.
func (r *Reservation) Reinstate() bool {
	if r.Status != ReservationExpired {
		return false
	}
	r.Status = ReservationConfirmed
	return true
}

// CheckConfirmed reports how confirming r turned out for the order placed
// with it: nil when r is confirmed, a *ReservationEndedError when it was
// released or expired first and holds no stock for the order.
func (r Reservation) CheckConfirmed() error {
	switch r.Status {
	case ReservationConfirmed:
		return nil
	case ReservationReleased, ReservationExpired:
		return &ReservationEndedError{ID: r.ID, Status: r.Status}
	default:
		return fmt.Errorf("reservation %s is %s after confirming it", r.ID, r.Status)
	}
}

// CheckStock returns an InsufficientStockError naming every item whose
// product has less stock than requested. available maps product ids to
// their current stock; every item's product must be in it.
func CheckStock(items []ReservationItem, available map[uuid.UUID]int64) error {
	var short []Shortage
	for _, it := range items {
		if have := available[it.ProductID]; have < int64(it.Quantity) {
			short = append(short, Shortage{ProductID: it.ProductID, Requested: int64(it.Quantity), Available: have})
		}
	}
	if len(short) > 0 {
		return &InsufficientStockError{Shortages: short}
	}
	return nil
}
