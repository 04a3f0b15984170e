package interceptor

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/storefront-go/storefront/libs/apperr"
)

// internalMessage is all a caller learns about an unexpected failure.
const internalMessage = "internal error"

// kindCode maps each apperr kind to its status code; OK means the kind is
// not one the interceptor knows.
func kindCode(k apperr.Kind) codes.Code {
	switch k {
	case apperr.KindInvalidArgument:
		return codes.InvalidArgument
	case apperr.KindNotFound:
		return codes.NotFound
	case apperr.KindAlreadyExists:
		return codes.AlreadyExists
	case apperr.KindFailedPrecondition:
		return codes.FailedPrecondition
	case apperr.KindAborted:
		return codes.Aborted
	case apperr.KindPermissionDenied:
		return codes.PermissionDenied
	case apperr.KindUnauthenticated:
		return codes.Unauthenticated
	case apperr.KindResourceExhausted:
		return codes.ResourceExhausted
	case apperr.KindUnavailable:
		return codes.Unavailable
	}
	return codes.OK
}

// UnaryErrors turns the error a handler returns into a status, so that
// handlers just return their errors:
//   - an apperr error (or apperr.Describer) becomes its kind's code, with its
//     own message, never the chain wrapped around it, and errdetails:
//     ErrorInfo (its reason, and the service as domain), BadRequest for
//     field violations, PreconditionFailure for precondition violations;
//   - when the call's context is done, CANCELED or DEADLINE_EXCEEDED,
//     whatever failed after that; context errors likewise;
//   - a status error returned as is (a failed Send) passes through;
//   - anything else is INTERNAL with a generic message.
//
// Errors the caller sees only as INTERNAL or UNKNOWN are logged here, once,
// with the full method; an unavailable dependency is logged as a warning,
// with the cause the caller does not see.
//
// Each classifier may recognise an error the kit does not type, such as a
// dependency's own (postgres.Unavailable), and return the kit error to
// answer with instead; nil means not recognised.
func UnaryErrors(logger *slog.Logger, classifiers ...func(error) error) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return resp, toStatus(ctx, logger, info.FullMethod, err, classifiers)
		}
		return resp, nil
	}
}

// StreamErrors is UnaryErrors for streams.
func StreamErrors(logger *slog.Logger, classifiers ...func(error) error) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := handler(srv, ss); err != nil {
			return toStatus(ss.Context(), logger, info.FullMethod, err, classifiers)
		}
		return nil
	}
}

// toStatus maps err, which is not nil, to a status error.
func toStatus(ctx context.Context, logger *slog.Logger, method string, err error, classifiers []func(error) error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller went away or ran out of time; whatever failed after
		// that is a consequence.
		err = ctxErr
	} else if _, typed := apperr.From(err); !typed {
		for _, classify := range classifiers {
			if known := classify(err); known != nil {
				err = known
				break
			}
		}
	}
	// A kit error of no known kind is a bug; it falls through to INTERNAL.
	if e, ok := apperr.From(err); ok && kindCode(e.Kind) != codes.OK {
		if e.Kind == apperr.KindUnavailable && e.Dependency != "" {
			// Operators need the cause, which the caller does not see.
			logger.WarnContext(ctx, "dependency unavailable", slog.String("method", method),
				slog.String("dependency", e.Dependency), slog.Any("error", e))
		}
		return appStatus(e, serviceOf(method)).Err()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	// Only a status returned as is passes, hence no errors.As: one wrapped
	// in context came from a call this server made, and its code is not
	// the caller's business.
	if se, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		if c := se.GRPCStatus().Code(); c == codes.Unknown || c == codes.Internal {
			logger.ErrorContext(ctx, "request failed", slog.String("method", method), slog.Any("error", err))
		}
		return err
	}
	logger.ErrorContext(ctx, "request failed", slog.String("method", method), slog.Any("error", err))
	return status.Error(codes.Internal, internalMessage)
}

// appStatus builds the status for e, whose kind kindCode knows; domain is
// the ErrorInfo domain.
func appStatus(e *apperr.Error, domain string) *status.Status {
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(strings.ReplaceAll(e.Kind.String(), "_", " "))
	}
	info := &errdetails.ErrorInfo{Reason: e.ReasonOrKind(), Domain: domain}
	if e.Dependency != "" {
		info.Metadata = map[string]string{"dependency": e.Dependency}
	}
	details := []protoadapt.MessageV1{info}
	if len(e.FieldViolations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.FieldViolations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		details = append(details, br)
	}
	if len(e.PreconditionViolations) > 0 {
		pf := &errdetails.PreconditionFailure{}
		for _, v := range e.PreconditionViolations {
			pf.Violations = append(pf.Violations, &errdetails.PreconditionFailure_Violation{Type: v.Type, Subject: v.Subject, Description: v.Description})
		}
		details = append(details, pf)
	}
	st := status.New(kindCode(e.Kind), msg)
	if withDetails, err := st.WithDetails(details...); err == nil {
		return withDetails
	}
	// The details could not be encoded; the code and message still go.
	return st
}

// serviceOf returns the service of a full method name,
// "catalogue.v1.CatalogueService" for "/catalogue.v1.CatalogueService/GetProduct".
func serviceOf(fullMethod string) string {
	svc, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return svc
}
