package ports_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/storefront-go/storefront/libs/apperr"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/interceptor"
	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/watch"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// errorInfo is the ErrorInfo detail every domain error carries.
func errorInfo(reason string) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Reason: reason, Domain: cataloguev1.CatalogueService_ServiceDesc.ServiceName}
}

// statusOf returns the status a caller gets when a handler returns err,
// through the errors interceptor every server runs, and whether that
// logged err as an internal error.
func statusOf(t *testing.T, err error) (st *status.Status, internal bool) {
	t.Helper()
	var logs bytes.Buffer
	unary := interceptor.UnaryErrors(slog.New(slog.NewJSONHandler(&logs, nil)))
	_, err = unary(t.Context(), nil, &grpc.UnaryServerInfo{FullMethod: cataloguev1.CatalogueService_GetProduct_FullMethodName},
		func(context.Context, any) (any, error) { return nil, err })
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a status", err)
	}
	return st, strings.Contains(logs.String(), `"msg":"request failed"`)
}

// The errors the handlers return reach callers as these statuses.
func TestStatus(t *testing.T) {
	t.Parallel()
	pid := uuid.MustParse("0193a3c4-0000-7000-8000-000000000001")
	tests := []struct {
		name         string
		err          error
		wantCode     codes.Code
		wantMsg      string
		wantDetails  []any
		wantInternal bool
	}{
		{
			name:     "validation",
			err:      fmt.Errorf("update: %w", apperr.Invalid("page_token", "is malformed")),
			wantCode: codes.InvalidArgument,
			wantMsg:  "invalid argument: page_token: is malformed",
			wantDetails: []any{errorInfo("INVALID_ARGUMENT"), &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: "page_token", Description: "is malformed"},
			}}},
		},
		{
			name:        "not found",
			err:         fmt.Errorf("get product: %w", domain.ProductNotFound(pid)),
			wantCode:    codes.NotFound,
			wantMsg:     "product 0193a3c4-0000-7000-8000-000000000001 not found",
			wantDetails: []any{errorInfo("PRODUCT_NOT_FOUND")},
		},
		{
			name:        "duplicate sku",
			err:         fmt.Errorf("create: %w", domain.DuplicateSKU("LAMP-1")),
			wantCode:    codes.AlreadyExists,
			wantMsg:     `a product with sku "LAMP-1" already exists`,
			wantDetails: []any{errorInfo("DUPLICATE_SKU")},
		},
		{
			name:        "reservation conflict",
			err:         domain.ReservationConflict(pid),
			wantCode:    codes.AlreadyExists,
			wantMsg:     "reservation 0193a3c4-0000-7000-8000-000000000001 already exists with different items",
			wantDetails: []any{errorInfo("RESERVATION_CONFLICT")},
		},
		{
			name:     "insufficient stock",
			err:      fmt.Errorf("reserve: %w", &domain.InsufficientStockError{Shortages: []domain.Shortage{{ProductID: pid, Requested: 3, Available: 1}}}),
			wantCode: codes.FailedPrecondition,
			wantMsg:  "insufficient stock: product 0193a3c4-0000-7000-8000-000000000001: requested 3, available 1",
			wantDetails: []any{errorInfo("INSUFFICIENT_STOCK"), &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
				{Type: "STOCK", Subject: "products/0193a3c4-0000-7000-8000-000000000001", Description: "requested 3, available 1"},
			}}},
		},
		{
			name:     "reservation ended",
			err:      fmt.Errorf("confirm: %w", &domain.ReservationEndedError{ID: pid, Status: domain.ReservationExpired}),
			wantCode: codes.FailedPrecondition,
			wantMsg:  "reservation 0193a3c4-0000-7000-8000-000000000001 is EXPIRED: its stock is no longer held, so it cannot be confirmed",
			wantDetails: []any{errorInfo("RESERVATION_ENDED"), &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
				{Type: "RESERVATION_STATUS", Subject: "reservations/0193a3c4-0000-7000-8000-000000000001", Description: "reservation is EXPIRED"},
			}}},
		},
		{
			name: "slow watcher", err: watch.ErrSlowConsumer, wantCode: codes.ResourceExhausted, wantMsg: "watcher fell behind the stream of changes; reconnect",
			wantDetails: []any{errorInfo("WATCHER_FELL_BEHIND")},
		},
		{
			name: "shutdown", err: watch.ErrClosed, wantCode: codes.Unavailable, wantMsg: "server is shutting down; reconnect",
			wantDetails: []any{errorInfo("SHUTTING_DOWN")},
		},
		{name: "cancelled", err: fmt.Errorf("query: %w", context.Canceled), wantCode: codes.Canceled, wantMsg: "request cancelled"},
		{name: "deadline", err: context.DeadlineExceeded, wantCode: codes.DeadlineExceeded, wantMsg: "deadline exceeded"},
		{
			name:         "sql error stays inside",
			err:          errors.New(`get product: ERROR: relation "products" does not exist (SQLSTATE 42P01)`),
			wantCode:     codes.Internal,
			wantMsg:      "internal error",
			wantInternal: true,
		},
		{
			name:     "transport status passes through",
			err:      status.Error(codes.Unavailable, "transport is closing"),
			wantCode: codes.Unavailable,
			wantMsg:  "transport is closing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, internal := statusOf(t, tt.err)
			if st.Code() != tt.wantCode || st.Message() != tt.wantMsg {
				t.Errorf("status = %v %q, want %v %q", st.Code(), st.Message(), tt.wantCode, tt.wantMsg)
			}
			if internal != tt.wantInternal {
				t.Errorf("internal = %v, want %v", internal, tt.wantInternal)
			}
			if diff := cmp.Diff(tt.wantDetails, st.Details(), protocmp.Transform(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			if strings.Contains(st.Message(), "SQLSTATE") {
				t.Errorf("message leaks SQL: %q", st.Message())
			}
		})
	}
}
