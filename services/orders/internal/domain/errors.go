package domain

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
)

// Reasons, for the ErrorInfo of the errors below.
const (
	reasonInsufficientStock = "INSUFFICIENT_STOCK"
	reasonReservationEnded  = "RESERVATION_ENDED"
	// ReasonNothingReserved marks UNAVAILABLE for an order that failed
	// before any stock could have been reserved for it (catalogue's breaker
	// is open, or pricing failed): nothing was reserved or recorded, so a
	// caller knows the outcome.
	ReasonNothingReserved = "NOTHING_RESERVED"
)

// Sentinels the use cases return, alone or wrapped, or that the typed
// errors below match with errors.Is. All are apperr errors, so any of them
// reaches the caller with its own code. Validation errors are apperr.Invalid.
var (
	// ErrNotFound matches every not-found error: an order does not exist,
	// or the caller may not see it.
	ErrNotFound = apperr.ErrNotFound
	// ErrPermissionDenied matches every permission-denied error: the caller
	// may not act for that customer.
	ErrPermissionDenied = apperr.ErrPermissionDenied
	// ErrUnauthenticated means there is no caller identity.
	ErrUnauthenticated = apperr.Unauthenticated("missing caller identity")
	// ErrInvalid matches every invalid-argument error: the request breaks a
	// rule.
	ErrInvalid = apperr.ErrInvalidArgument
	// ErrIdempotencyMismatch means a key was reused for another request.
	ErrIdempotencyMismatch = apperr.FailedPrecondition("IDEMPOTENCY_KEY_REUSED", "idempotency key reused with a different request")
	// ErrRequestInProgress means another request with the same key is still
	// being processed; the client may retry.
	ErrRequestInProgress = apperr.Aborted("a request with this idempotency key is still in progress; retry later").WithReason("REQUEST_IN_PROGRESS")
	// ErrAmountOverflow means an amount does not fit in int64 minor units.
	ErrAmountOverflow = apperr.InvalidArgument("order total is out of range").WithReason("AMOUNT_OUT_OF_RANGE")
	// ErrInsufficientStock means catalogue could not reserve every item.
	ErrInsufficientStock = apperr.FailedPrecondition(reasonInsufficientStock, "insufficient stock")
	// ErrCatalogueUnavailable means catalogue could not be reached.
	ErrCatalogueUnavailable = apperr.Unavailable("catalogue", "catalogue unavailable")
	// ErrFailedPrecondition means the system is not in a state to serve the
	// request as asked (mixed currencies, for instance). It is not
	// apperr.ErrFailedPrecondition: shortages and ended reservations, which
	// callers branch on apart, do not match it.
	ErrFailedPrecondition = apperr.FailedPrecondition("FAILED_PRECONDITION", "failed precondition")
	// ErrReservationEnded means catalogue could not confirm an order's
	// reservation because it had already been released or expired.
	ErrReservationEnded = apperr.FailedPrecondition(reasonReservationEnded, "reservation ended")
)

var (
	_ apperr.Describer = (*ProductNotFoundError)(nil)
	_ apperr.Describer = (*InsufficientStockError)(nil)
	_ apperr.Describer = (*CurrencyMismatchError)(nil)
	_ apperr.Describer = (*CatalogueUnavailableError)(nil)
	_ apperr.Describer = (*OrderStatusError)(nil)
	_ apperr.Describer = (*CataloguePreconditionError)(nil)
	_ apperr.Describer = (*ReservationEndedError)(nil)
)

// OrderNotFound says an order is missing. It is also what a caller gets
// for another customer's order, so existence does not leak.
func OrderNotFound(id uuid.UUID) *apperr.Error {
	return apperr.NotFound(fmt.Sprintf("order %s not found", id)).WithReason("ORDER_NOT_FOUND")
}

// PermissionDenied says why the caller may not do what they asked.
func PermissionDenied(reason string) *apperr.Error {
	return apperr.PermissionDenied("permission denied: " + reason)
}

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

// AppError is NOT_FOUND.
func (e *ProductNotFoundError) AppError() *apperr.Error {
	return apperr.NotFound(e.Error()).WithReason("PRODUCT_NOT_FOUND")
}

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

// AppError is FAILED_PRECONDITION with a STOCK violation per product.
func (e *InsufficientStockError) AppError() *apperr.Error {
	vs := make([]apperr.PreconditionViolation, len(e.Shortages))
	for i, s := range e.Shortages {
		vs[i] = apperr.PreconditionViolation{Type: "STOCK", Subject: "products/" + s.ProductID.String(), Description: s.Detail}
	}
	return apperr.FailedPrecondition(reasonInsufficientStock, e.Error(), vs...)
}

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

// AppError is FAILED_PRECONDITION.
func (e *CurrencyMismatchError) AppError() *apperr.Error {
	return apperr.FailedPrecondition("CURRENCY_MISMATCH", e.Error())
}

// CatalogueUnavailableError says catalogue could not be reached or did not
// answer in time. Reason is safe to show to callers; Cause, for the logs,
// may hold transport details they must not see.
type CatalogueUnavailableError struct {
	Reason string
	Cause  error
	// Unsent is set when the call never left this process (the circuit
	// breaker rejected it), so it certainly had no effect.
	Unsent bool
	// NothingReserved is set when the order failed before it asked for a
	// reservation: whatever catalogue did, it held no stock for it.
	NothingReserved bool
}

// Error names catalogue and the reason.
func (e *CatalogueUnavailableError) Error() string {
	return "catalogue unavailable: " + e.Reason
}

// Unwrap returns the cause.
func (e *CatalogueUnavailableError) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, ErrCatalogueUnavailable) true.
func (e *CatalogueUnavailableError) Is(target error) bool { return target == ErrCatalogueUnavailable }

// AppError is UNAVAILABLE naming catalogue; the cause goes to the logs. An
// order that certainly reserved nothing (Unsent or NothingReserved)
// carries ReasonNothingReserved.
func (e *CatalogueUnavailableError) AppError() *apperr.Error {
	ae := apperr.Unavailable("catalogue", e.Error()).WithCause(e.Cause)
	if e.Unsent || e.NothingReserved {
		ae = ae.WithReason(ReasonNothingReserved)
	}
	return ae
}

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

// AppError is FAILED_PRECONDITION.
func (e *OrderStatusError) AppError() *apperr.Error {
	return apperr.FailedPrecondition("ORDER_STATUS", e.Error())
}

// CataloguePreconditionError is a FAILED_PRECONDITION from catalogue that
// is not about stock. Message is catalogue's, written for callers.
type CataloguePreconditionError struct {
	Message string
}

// Error gives catalogue's message.
func (e *CataloguePreconditionError) Error() string { return "catalogue: " + e.Message }

// Is makes errors.Is(err, ErrFailedPrecondition) true.
func (e *CataloguePreconditionError) Is(target error) bool { return target == ErrFailedPrecondition }

// AppError is FAILED_PRECONDITION.
func (e *CataloguePreconditionError) AppError() *apperr.Error {
	return apperr.FailedPrecondition("CATALOGUE_PRECONDITION", e.Error())
}

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

// AppError is FAILED_PRECONDITION.
func (e *ReservationEndedError) AppError() *apperr.Error {
	return apperr.FailedPrecondition(reasonReservationEnded, e.Error())
}
