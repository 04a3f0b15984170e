package ports_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/apperr"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/interceptor"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// statusOf returns the status a caller gets when a handler returns err,
// through the errors interceptor every server runs, and whether that
// logged err as an internal error.
func statusOf(t *testing.T, err error) (st *status.Status, internal bool) {
	t.Helper()
	var logs bytes.Buffer
	unary := interceptor.UnaryErrors(slog.New(slog.NewJSONHandler(&logs, nil)))
	_, err = unary(t.Context(), nil, &grpc.UnaryServerInfo{FullMethod: ordersv1.OrderService_PlaceOrder_FullMethodName},
		func(context.Context, any) (any, error) { return nil, err })
	return status.Convert(err), strings.Contains(logs.String(), `"msg":"request failed"`)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	pid := uuid.MustParse("0190a0e8-0000-7000-8000-00000000000a")
	oid := uuid.MustParse("0190a0e8-0000-7000-8000-0000000000ff")
	tests := []struct {
		name         string
		err          error
		code         codes.Code
		msgContains  string
		wantInternal bool
	}{
		{name: "nil", err: nil, code: codes.OK},
		{name: "validation", err: apperr.Invalid("page_token", "is not a valid page token"), code: codes.InvalidArgument, msgContains: "page_token"},
		{name: "order not found", err: fmt.Errorf("get: %w", domain.OrderNotFound(oid)), code: codes.NotFound, msgContains: oid.String()},
		{name: "product not found", err: &domain.ProductNotFoundError{IDs: []uuid.UUID{pid}}, code: codes.NotFound, msgContains: pid.String()},
		{name: "insufficient stock", err: &domain.InsufficientStockError{Shortages: []domain.Shortage{{ProductID: pid, Detail: "requested 6, available 5"}}}, code: codes.FailedPrecondition, msgContains: pid.String()},
		{name: "currencies", err: &domain.CurrencyMismatchError{Currencies: []string{"EUR", "USD"}}, code: codes.FailedPrecondition, msgContains: "EUR, USD"},
		{name: "key reused", err: domain.ErrIdempotencyMismatch, code: codes.FailedPrecondition, msgContains: "idempotency key reused with a different request"},
		{name: "in progress", err: domain.ErrRequestInProgress, code: codes.Aborted, msgContains: "in progress"},
		{name: "catalogue down", err: &domain.CatalogueUnavailableError{Reason: "circuit breaker open", Cause: errors.New("dial tcp 10.1.2.3:50051")}, code: codes.Unavailable, msgContains: "catalogue unavailable: circuit breaker open"},
		{name: "permission", err: fmt.Errorf("x: %w", domain.ErrPermissionDenied), code: codes.PermissionDenied},
		{name: "unauthenticated", err: domain.ErrUnauthenticated, code: codes.Unauthenticated},
		{name: "overflow", err: fmt.Errorf("total: %w", domain.ErrAmountOverflow), code: codes.InvalidArgument, msgContains: "out of range"},
		{name: "cancelled", err: fmt.Errorf("q: %w", context.Canceled), code: codes.Canceled},
		{name: "deadline", err: fmt.Errorf("q: %w", context.DeadlineExceeded), code: codes.DeadlineExceeded},
		{name: "unexpected", err: errors.New(`ERROR: relation "orders" does not exist (SQLSTATE 42P01)`), code: codes.Internal, msgContains: "internal error", wantInternal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, internal := statusOf(t, tc.err)
			if st.Code() != tc.code {
				t.Errorf("code = %v, want %v", st.Code(), tc.code)
			}
			if internal != tc.wantInternal {
				t.Errorf("internal = %t, want %t", internal, tc.wantInternal)
			}
			if !strings.Contains(st.Message(), tc.msgContains) {
				t.Errorf("message %q does not contain %q", st.Message(), tc.msgContains)
			}
			for _, leak := range []string{"SQLSTATE", "relation", "10.1.2.3", "dial tcp"} {
				if strings.Contains(st.Message(), leak) {
					t.Errorf("message %q leaks %q", st.Message(), leak)
				}
			}
		})
	}
}

// An order that certainly reserved nothing (refused by the open breaker,
// or failed while pricing) says so in its ErrorInfo, so a caller knows
// nothing happened; one whose reservation call failed may have reserved,
// and does not.
func TestStatusTellsAnOrderThatReservedNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		unsent, nothing bool
		reason          string
	}{{true, false, domain.ReasonNothingReserved}, {false, true, domain.ReasonNothingReserved}, {false, false, "UNAVAILABLE"}} {
		st, _ := statusOf(t, &domain.CatalogueUnavailableError{Reason: "x", Cause: errors.New("x"), Unsent: tc.unsent, NothingReserved: tc.nothing})
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		if st.Code() != codes.Unavailable || info.GetReason() != tc.reason || info.GetMetadata()["dependency"] != "catalogue" {
			t.Errorf("unsent %t, nothing reserved %t: %v %v, want UNAVAILABLE with reason %s naming catalogue", tc.unsent, tc.nothing, st.Code(), info, tc.reason)
		}
	}
}

// A status carries the typed error's own message, never the chain of
// context the layers below wrapped around it.
func TestStatusMessageHasNoInternalContext(t *testing.T) {
	t.Parallel()
	oid := uuid.MustParse("0190a0e8-0000-7000-8000-0000000000ff")
	tests := []struct {
		name string
		err  error
		code codes.Code
		want string
	}{
		{
			name: "cancel a pending order",
			err:  fmt.Errorf("update order %s: %w", oid, &domain.OrderStatusError{ID: oid, Status: domain.StatusPending, Action: "cancelled"}),
			code: codes.FailedPrecondition,
			want: "order " + oid.String() + " is PENDING and cannot be cancelled",
		},
		{
			name: "mixed currencies",
			err:  fmt.Errorf("store order %s: price: %w", oid, &domain.CurrencyMismatchError{Currencies: []string{"EUR", "USD"}}),
			code: codes.FailedPrecondition,
			want: "products are priced in different currencies (EUR, USD); place one order per currency",
		},
		{
			name: "catalogue precondition",
			err:  fmt.Errorf("reserve stock for order %s: %w", oid, &domain.CataloguePreconditionError{Message: "product is archived"}),
			code: codes.FailedPrecondition,
			want: "catalogue: product is archived",
		},
		{
			name: "bare sentinel",
			err:  fmt.Errorf("update order %s: lock: %w", oid, domain.ErrFailedPrecondition),
			code: codes.FailedPrecondition,
			want: "failed precondition",
		},
		{
			name: "permission",
			err:  fmt.Errorf("list orders of customer bob: %w", domain.PermissionDenied("customer_id must be your own")),
			code: codes.PermissionDenied,
			want: "permission denied: customer_id must be your own",
		},
		{
			name: "bare permission sentinel",
			err:  fmt.Errorf("update order %s: %w", oid, domain.ErrPermissionDenied),
			code: codes.PermissionDenied,
			want: "permission denied",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, internal := statusOf(t, tc.err)
			if st.Code() != tc.code || internal {
				t.Errorf("code = %v, internal = %t; want %v, false", st.Code(), internal, tc.code)
			}
			if st.Message() != tc.want {
				t.Errorf("message = %q, want %q", st.Message(), tc.want)
			}
			for _, leak := range []string{"update order", "store order", "reserve stock", "list orders", "lock:", "price:"} {
				if strings.Contains(st.Message(), leak) {
					t.Errorf("message %q leaks the wrapping %q", st.Message(), leak)
				}
			}
		})
	}
}

func TestStatusDetails(t *testing.T) {
	t.Parallel()
	pid := uuid.MustParse("0190a0e8-0000-7000-8000-00000000000a")
	st, _ := statusOf(t, &domain.InsufficientStockError{Shortages: []domain.Shortage{{ProductID: pid, Detail: "requested 6, available 5"}}})
	var found bool
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.GetViolations() {
				found = found || v.GetSubject() == "products/"+pid.String()
			}
		}
	}
	if !found {
		t.Errorf("insufficient stock status has no violation for products/%s: %v", pid, st.Details())
	}
	st, _ = statusOf(t, apperr.Invalid("items", "each product may appear only once"))
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		if b, ok := d.(*errdetails.BadRequest); ok {
			br = b
		}
	}
	if br == nil || len(br.GetFieldViolations()) != 1 || br.GetFieldViolations()[0].GetField() != "items" {
		t.Errorf("validation status details = %v, want one field violation on items", st.Details())
	}
}
