package ports

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
	"github.com/storefront-go/storefront/services/catalogue/internal/watch"
)

// internalMessage is all a caller learns about an unexpected failure.
const internalMessage = "internal error"

// Status maps an error from the use cases to a gRPC status. Domain errors
// carry messages written for callers, plus errdetails where the contract
// calls for them. Anything unexpected becomes a bare INTERNAL, and internal
// reports it so the caller can log the real error.
func Status(err error) (st *status.Status, internal bool) {
	var (
		invalid  *domain.ValidationError
		notFound *domain.NotFoundError
		dupSKU   *domain.DuplicateSKUError
		conflict *domain.ReservationConflictError
		short    *domain.InsufficientStockError
		ended    *domain.ReservationEndedError
	)
	switch {
	case err == nil:
		return status.New(codes.OK, ""), false
	case errors.As(err, &invalid):
		br := &errdetails.BadRequest{}
		for _, v := range invalid.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		return withDetails(codes.InvalidArgument, invalid.Error(), br), false
	case errors.As(err, &notFound):
		return status.New(codes.NotFound, notFound.Error()), false
	case errors.As(err, &dupSKU):
		return status.New(codes.AlreadyExists, dupSKU.Error()), false
	case errors.As(err, &conflict):
		return status.New(codes.AlreadyExists, conflict.Error()), false
	case errors.As(err, &short):
		pf := &errdetails.PreconditionFailure{}
		for _, s := range short.Shortages {
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{
				Type:        "STOCK",
				Subject:     "products/" + s.ProductID.String(),
				Description: fmt.Sprintf("requested %d, available %d", s.Requested, s.Available),
			})
		}
		return withDetails(codes.FailedPrecondition, short.Error(), pf), false
	case errors.As(err, &ended):
		return withDetails(codes.FailedPrecondition, ended.Error(), &errdetails.PreconditionFailure{
			Violations: []*errdetails.PreconditionFailure_Violation{{
				Type:        "RESERVATION_STATUS",
				Subject:     "reservations/" + ended.ID.String(),
				Description: "reservation is " + ended.Status.String(),
			}},
		}), false
	case errors.Is(err, watch.ErrSlowConsumer):
		return status.New(codes.ResourceExhausted, "watcher fell behind the stream of changes; reconnect"), false
	case errors.Is(err, watch.ErrClosed):
		return status.New(codes.Unavailable, "server is shutting down; reconnect"), false
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request cancelled"), false
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded"), false
	}
	if st, ok := status.FromError(err); ok {
		// Already a status, from the transport (a failed Send, say).
		return st, st.Code() == codes.Unknown || st.Code() == codes.Internal
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
