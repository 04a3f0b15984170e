package ports

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// internalMessage is all a caller learns about an unexpected failure.
const internalMessage = "internal error"

// Status maps an error from the use cases to a gRPC status. The message is
// the typed domain error's own, written for callers, never err.Error(): the
// chain around it holds internal context ("update order <id>: ...").
// Anything unexpected becomes a bare INTERNAL, and internal reports it so
// that the caller of Status logs the real error.
func Status(err error) (st *status.Status, internal bool) {
	var (
		invalid     *domain.ValidationError
		products    *domain.ProductNotFoundError
		order       *domain.OrderNotFoundError
		stock       *domain.InsufficientStockError
		unavailable *domain.CatalogueUnavailableError
		currencies  *domain.CurrencyMismatchError
		orderStatus *domain.OrderStatusError
		catalogue   *domain.CataloguePreconditionError
		permission  *domain.PermissionError
	)
	switch {
	case err == nil:
		return status.New(codes.OK, ""), false
	case errors.As(err, &invalid):
		return withDetails(codes.InvalidArgument, invalid.Error(), &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: invalid.Field, Description: invalid.Description}},
		}), false
	case errors.As(err, &order):
		return status.New(codes.NotFound, order.Error()), false
	case errors.As(err, &products):
		return status.New(codes.NotFound, products.Error()), false
	case errors.As(err, &stock):
		pf := &errdetails.PreconditionFailure{}
		for _, s := range stock.Shortages {
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
				Type: "STOCK", Subject: "products/" + s.ProductID.String(), Description: s.Detail,
			})
		}
		return withDetails(codes.FailedPrecondition, stock.Error(), pf), false
	case errors.As(err, &unavailable):
		return status.New(codes.Unavailable, unavailable.Error()), false
	case errors.Is(err, domain.ErrIdempotencyMismatch):
		return status.New(codes.FailedPrecondition, domain.ErrIdempotencyMismatch.Error()), false
	case errors.Is(err, domain.ErrRequestInProgress):
		return status.New(codes.Aborted, domain.ErrRequestInProgress.Error()), false
	case errors.As(err, &currencies):
		return status.New(codes.FailedPrecondition, currencies.Error()), false
	case errors.As(err, &orderStatus):
		return status.New(codes.FailedPrecondition, orderStatus.Error()), false
	case errors.As(err, &catalogue):
		return status.New(codes.FailedPrecondition, catalogue.Error()), false
	case errors.Is(err, domain.ErrFailedPrecondition):
		return status.New(codes.FailedPrecondition, domain.ErrFailedPrecondition.Error()), false
	case errors.Is(err, domain.ErrAmountOverflow):
		return status.New(codes.InvalidArgument, "order total is out of range"), false
	case errors.As(err, &permission):
		return status.New(codes.PermissionDenied, permission.Error()), false
	case errors.Is(err, domain.ErrPermissionDenied):
		return status.New(codes.PermissionDenied, domain.ErrPermissionDenied.Error()), false
	case errors.Is(err, domain.ErrUnauthenticated):
		return status.New(codes.Unauthenticated, "missing caller identity"), false
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request cancelled"), false
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded"), false
	}
	return status.New(codes.Internal, internalMessage), true
}

// withDetails attaches detail to a new status; should that fail, the
// status goes without it rather than failing the call.
func withDetails(code codes.Code, msg string, detail protoadapt.MessageV1) *status.Status {
	st := status.New(code, msg)
	if withDetail, err := st.WithDetails(detail); err == nil {
		return withDetail
	}
	return st
}
