package domain

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Sentinels that the typed errors below match with errors.Is, so callers can
// branch on the kind of failure without knowing its details.
var (
	// ErrNotFound means a product or reservation does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the caller sent a value that breaks a rule.
	ErrInvalid = errors.New("invalid argument")
	// ErrAlreadyExists means the request collides with existing state.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInsufficientStock means there is not enough stock for a change.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrReservationEnded means a reservation was released or expired, so
	// it no longer holds stock and cannot be confirmed.
	ErrReservationEnded = errors.New("reservation ended")
)

// FieldViolation names one bad field and says what is wrong with it.
type FieldViolation struct {
	Field       string
	Description string
}

// ValidationError lists the fields that break a rule. Its message is safe to
// show to callers.
type ValidationError struct {
	Violations []FieldViolation
}

// Error returns every violation on one line.
func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Violations))
	for _, v := range e.Violations {
		parts = append(parts, v.Field+": "+v.Description)
	}
	return "invalid argument: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Prefixed returns a copy whose field paths are nested under prefix, for
// rules checked on a sub-message ("product.name").
func (e *ValidationError) Prefixed(prefix string) *ValidationError {
	out := &ValidationError{Violations: make([]FieldViolation, len(e.Violations))}
	for i, v := range e.Violations {
		v.Field = prefix + "." + v.Field
		out.Violations[i] = v
	}
	return out
}

// Invalid returns a ValidationError for one field.
func Invalid(field, description string) *ValidationError {
	return &ValidationError{Violations: []FieldViolation{{Field: field, Description: description}}}
}

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

// ProductNotFound returns a NotFoundError for products.
func ProductNotFound(ids ...uuid.UUID) *NotFoundError {
	return &NotFoundError{Resource: "product", IDs: ids}
}

// ReservationNotFound returns a NotFoundError for a reservation.
func ReservationNotFound(id uuid.UUID) *NotFoundError {
	return &NotFoundError{Resource: "reservation", IDs: []uuid.UUID{id}}
}

// DuplicateSKUError says a sku is taken by another product.
type DuplicateSKUError struct {
	SKU string
}

// Error names the sku.
func (e *DuplicateSKUError) Error() string {
	return fmt.Sprintf("a product with sku %q already exists", e.SKU)
}

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *DuplicateSKUError) Is(target error) bool { return target == ErrAlreadyExists }

// ReservationConflictError says a reservation id was reused with other items.
type ReservationConflictError struct {
	ID uuid.UUID
}

// Error names the reservation.
func (e *ReservationConflictError) Error() string {
	return fmt.Sprintf("reservation %s already exists with different items", e.ID)
}

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *ReservationConflictError) Is(target error) bool { return target == ErrAlreadyExists }

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
