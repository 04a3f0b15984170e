package domain

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
)

// Reasons, for the ErrorInfo of the errors below.
const (
	reasonInsufficientStock   = "INSUFFICIENT_STOCK"
	reasonReservationEnded    = "RESERVATION_ENDED"
	reasonDuplicateSKU        = "DUPLICATE_SKU"
	reasonReservationConflict = "RESERVATION_CONFLICT"
)

// Sentinels that the errors below match with errors.Is, so callers can
// branch on the kind of failure without knowing its details. Validation
// errors are apperr.Invalid and its kin.
var (
	// ErrNotFound matches every not-found error: a product or reservation
	// does not exist.
	ErrNotFound = apperr.ErrNotFound
	// ErrInvalid matches every invalid-argument error: the caller sent a
	// value that breaks a rule.
	ErrInvalid = apperr.ErrInvalidArgument
	// ErrAlreadyExists matches every error of a request that collides with
	// existing state.
	ErrAlreadyExists = apperr.ErrAlreadyExists
	// ErrInsufficientStock means there is not enough stock for a change.
	ErrInsufficientStock = apperr.FailedPrecondition(reasonInsufficientStock, "insufficient stock")
	// ErrReservationEnded means a reservation was released or expired, so
	// it no longer holds stock and cannot be confirmed.
	ErrReservationEnded = apperr.FailedPrecondition(reasonReservationEnded, "reservation ended")
)

var (
	_ apperr.Describer = (*NotFoundError)(nil)
	_ apperr.Describer = (*InsufficientStockError)(nil)
	_ apperr.Describer = (*ReservationEndedError)(nil)
)

// NotFoundError says which resource is missing.
type NotFoundError struct {
	// Resource is "product" or "reservation".
	Resource string
	IDs      []uuid.UUID
}

// Error names the resource and the ids.
func (e *NotFoundError) Error() string {
	ids := make([]string, len(e.IDs))
	for i, id := range e.IDs {
		ids[i] = id.String()
	}
	return fmt.Sprintf("%s %s not found", e.Resource, strings.Join(ids, ", "))
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// AppError is NOT_FOUND with reason PRODUCT_NOT_FOUND (or RESERVATION_...).
func (e *NotFoundError) AppError() *apperr.Error {
	return apperr.NotFound(e.Error()).WithReason(strings.ToUpper(e.Resource) + "_NOT_FOUND")
}

// ProductNotFound returns a NotFoundError for products.
func ProductNotFound(ids ...uuid.UUID) *NotFoundError {
	return &NotFoundError{Resource: "product", IDs: ids}
}

// ReservationNotFound returns a NotFoundError for a reservation.
func ReservationNotFound(id uuid.UUID) *NotFoundError {
	return &NotFoundError{Resource: "reservation", IDs: []uuid.UUID{id}}
}

// DuplicateSKU says a sku is taken by another product.
func DuplicateSKU(sku string) *apperr.Error {
	return apperr.AlreadyExists(fmt.Sprintf("a product with sku %q already exists", sku)).WithReason(reasonDuplicateSKU)
}

// ReservationConflict says a reservation id was reused with other items.
func ReservationConflict(id uuid.UUID) *apperr.Error {
	return apperr.AlreadyExists(fmt.Sprintf("reservation %s already exists with different items", id)).WithReason(reasonReservationConflict)
}

// Shortage is one product that lacks stock for a change.
type Shortage struct {
	ProductID uuid.UUID
	Requested int64
	Available int64
}

// InsufficientStockError lists every product short of stock.
type InsufficientStockError struct {
	Shortages []Shortage
}

// Error names each product with what was asked and what is there.
func (e *InsufficientStockError) Error() string {
	parts := make([]string, 0, len(e.Shortages))
	for _, s := range e.Shortages {
		parts = append(parts, fmt.Sprintf("product %s: requested %d, available %d", s.ProductID, s.Requested, s.Available))
	}
	return "insufficient stock: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInsufficientStock) true.
func (e *InsufficientStockError) Is(target error) bool { return target == ErrInsufficientStock }

// AppError is FAILED_PRECONDITION with a STOCK violation per product.
func (e *InsufficientStockError) AppError() *apperr.Error {
	vs := make([]apperr.PreconditionViolation, len(e.Shortages))
	for i, s := range e.Shortages {
		vs[i] = apperr.PreconditionViolation{
			Type:        "STOCK",
			Subject:     "products/" + s.ProductID.String(),
			Description: fmt.Sprintf("requested %d, available %d", s.Requested, s.Available),
		}
	}
	return apperr.FailedPrecondition(reasonInsufficientStock, e.Error(), vs...)
}

// ReservationEndedError says a reservation cannot be confirmed because it
// was released or expired: its stock went back, and the order placed with
// it can no longer be fulfilled from it.
type ReservationEndedError struct {
	ID     uuid.UUID
	Status ReservationStatus
}

// Error names the reservation and its status.
func (e *ReservationEndedError) Error() string {
	return fmt.Sprintf("reservation %s is %s: its stock is no longer held, so it cannot be confirmed", e.ID, e.Status)
}

// Is makes errors.Is(err, ErrReservationEnded) true.
func (e *ReservationEndedError) Is(target error) bool { return target == ErrReservationEnded }

// AppError is FAILED_PRECONDITION with a RESERVATION_STATUS violation.
func (e *ReservationEndedError) AppError() *apperr.Error {
	return apperr.FailedPrecondition(reasonReservationEnded, e.Error(), apperr.PreconditionViolation{
		Type:        "RESERVATION_STATUS",
		Subject:     "reservations/" + e.ID.String(),
		Description: "reservation is " + e.Status.String(),
	})
}
