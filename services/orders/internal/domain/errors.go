package domain

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Sentinels the use cases return, alone or wrapped in the typed errors
// below; the gRPC layer maps them to status codes.
var (
	// ErrNotFound means an order does not exist, or the caller may not see it.
	ErrNotFound = errors.New("not found")
	// ErrPermissionDenied means the caller may not act for that customer.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnauthenticated means there is no caller identity.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrInvalid means the request breaks a rule.
	ErrInvalid = errors.New("invalid argument")
	// ErrIdempotencyMismatch means a key was reused for another request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrRequestInProgress means another request with the same key is still
	// being processed; the client may retry.
	ErrRequestInProgress = errors.New("a request with this idempotency key is still in progress; retry later")
	// ErrAmountOverflow means an amount does not fit in int64 minor units.
	ErrAmountOverflow = errors.New("amount out of range")
	// ErrInsufficientStock means catalogue could not reserve every item.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrCatalogueUnavailable means catalogue could not be reached.
	ErrCatalogueUnavailable = errors.New("catalogue unavailable")
	// ErrFailedPrecondition means the system is not in a state to serve the
	// request as asked (mixed currencies, for instance).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrReservationEnded means catalogue could not confirm an order's
	// reservation because it had already been released or expired.
	ErrReservationEnded = errors.New("reservation ended")
)

// ValidationError names a field that breaks a rule; its message is safe to
// show to callers.
type ValidationError struct {
	Field       string
	Description string
}

// Error names the field and the rule.
func (e *ValidationError) Error() string {
	return "invalid argument: " + e.Field + ": " + e.Description
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// OrderNotFoundError says an order is missing. It is also what a caller
// gets for another customer's order, so existence does not leak.
type OrderNotFoundError struct {
	ID uuid.UUID
}

// Error names the order.
func (e *OrderNotFoundError) Error() string { return fmt.Sprintf("order %s not found", e.ID) }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *OrderNotFoundError) Is(target error) bool { return target == ErrNotFound }

// ProductNotFoundError names products that catalogue does not know.
type ProductNotFoundError struct {
	IDs []uuid.UUID
}

// Error names the products.
func (e *ProductNotFoundError) Error() string {
	ids := make([]string, len(e.IDs))
	for i, id := range e.IDs {
		ids[i] = id.String()
	}
	noun := "product"
	if len(ids) > 1 {
		noun = "products"
	}
	return fmt.Sprintf("%s %s not found", noun, strings.Join(ids, ", "))
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *ProductNotFoundError) Is(target error) bool { return target == ErrNotFound }

// Shortage is one product that lacks stock.
type Shortage struct {
	ProductID uuid.UUID
	// Detail is catalogue's description, such as "requested 6, available 5".
	Detail string
}

// InsufficientStockError names the products catalogue could not reserve.
type InsufficientStockError struct {
	Shortages []Shortage
	// Message is catalogue's own message, used when no product is known.
	Message string
}

// Error names each product short of stock.
func (e *InsufficientStockError) Error() string {
	if len(e.Shortages) == 0 {
		if e.Message != "" {
			return e.Message
		}
		return "insufficient stock"
	}
	parts := make([]string, len(e.Shortages))
	for i, s := range e.Shortages {
		parts[i] = "product " + s.ProductID.String()
		if s.Detail != "" {
			parts[i] += " (" + s.Detail + ")"
		}
	}
	return "insufficient stock: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInsufficientStock) true.
func (e *InsufficientStockError) Is(target error) bool { return target == ErrInsufficientStock }

// CurrencyMismatchError says an order's products are priced in different
// currencies, which one order cannot total.
type CurrencyMismatchError struct {
	Currencies []string
}

// Error lists the currencies.
func (e *CurrencyMismatchError) Error() string {
	return "products are priced in different currencies (" + strings.Join(e.Currencies, ", ") + "); place one order per currency"
}

// Is makes errors.Is(err, ErrFailedPrecondition) true.
func (e *CurrencyMismatchError) Is(target error) bool { return target == ErrFailedPrecondition }

// CatalogueUnavailableError says catalogue could not be reached or did not
// answer in time. Reason is safe to show to callers; Cause, for the logs,
// may hold transport details they must not see.
type CatalogueUnavailableError struct {
	Reason string
	Cause  error
	// Unsent is set when the call never left this process (the circuit
	// breaker rejected it), so it certainly had no effect.
	Unsent bool
}

// Error names catalogue and the reason.
func (e *CatalogueUnavailableError) Error() string {
	return "catalogue unavailable: " + e.Reason
}

// Unwrap returns the cause.
func (e *CatalogueUnavailableError) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, ErrCatalogueUnavailable) true.
func (e *CatalogueUnavailableError) Is(target error) bool { return target == ErrCatalogueUnavailable }

// PermissionError says why the caller may not do what they asked; its
// message is safe to show to callers.
type PermissionError struct {
	Reason string
}

// Error gives the reason.
func (e *PermissionError) Error() string { return "permission denied: " + e.Reason }

// Is makes errors.Is(err, ErrPermissionDenied) true.
func (e *PermissionError) Is(target error) bool { return target == ErrPermissionDenied }

// OrderStatusError says an order's status does not allow what was asked.
type OrderStatusError struct {
	ID     uuid.UUID
	Status Status
	// Action is what the status rules out, such as "cancelled".
	Action string
}

// Error names the order, its status and the action.
func (e *OrderStatusError) Error() string {
	return fmt.Sprintf("order %s is %s and cannot be %s", e.ID, e.Status, e.Action)
}

// Is makes errors.Is(err, ErrFailedPrecondition) true.
func (e *OrderStatusError) Is(target error) bool { return target == ErrFailedPrecondition }

// CataloguePreconditionError is a FAILED_PRECONDITION from catalogue that
// is not about stock. Message is catalogue's, written for callers.
type CataloguePreconditionError struct {
	Message string
}

// Error gives catalogue's message.
func (e *CataloguePreconditionError) Error() string { return "catalogue: " + e.Message }

// Is makes errors.Is(err, ErrFailedPrecondition) true.
func (e *CataloguePreconditionError) Is(target error) bool { return target == ErrFailedPrecondition }

// ReservationEndedError says catalogue could not confirm a placed order's
// reservation because it had been released or had expired (or, never
// expected, is gone): the order's stock is back on sale, and the order may
// be oversold. Detail is catalogue's explanation.
type ReservationEndedError struct {
	OrderID uuid.UUID
	Detail  string
}

// Error names the order and catalogue's explanation.
func (e *ReservationEndedError) Error() string {
	return fmt.Sprintf("reservation of order %s cannot be confirmed: %s", e.OrderID, e.Detail)
}

// Is makes errors.Is(err, ErrReservationEnded) true.
func (e *ReservationEndedError) Is(target error) bool { return target == ErrReservationEnded }
