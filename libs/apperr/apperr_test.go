package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/storefront-go/storefront/libs/apperr"
)

func TestConstructors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *apperr.Error
		want apperr.Error
	}{
		{
			name: "invalid fields",
			err:  apperr.InvalidFields(apperr.FieldViolation{Field: "name", Description: "must not be empty"}, apperr.FieldViolation{Field: "sku", Description: "is too long"}),
			want: apperr.Error{
				Kind:    apperr.KindInvalidArgument,
				Message: "invalid argument: name: must not be empty; sku: is too long",
				FieldViolations: []apperr.FieldViolation{
					{Field: "name", Description: "must not be empty"},
					{Field: "sku", Description: "is too long"},
				},
			},
		},
		{
			name: "invalid",
			err:  apperr.Invalid("page_token", "is malformed"),
			want: apperr.Error{
				Kind:            apperr.KindInvalidArgument,
				Message:         "invalid argument: page_token: is malformed",
				FieldViolations: []apperr.FieldViolation{{Field: "page_token", Description: "is malformed"}},
			},
		},
		{
			name: "invalid argument without fields",
			err:  apperr.InvalidArgument("order total is out of range"),
			want: apperr.Error{Kind: apperr.KindInvalidArgument, Message: "order total is out of range"},
		},
		{
			name: "failed precondition",
			err:  apperr.FailedPrecondition("INSUFFICIENT_STOCK", "insufficient stock", apperr.PreconditionViolation{Type: "STOCK", Subject: "products/1", Description: "requested 3, available 1"}),
			want: apperr.Error{
				Kind: apperr.KindFailedPrecondition, Message: "insufficient stock", Reason: "INSUFFICIENT_STOCK",
				PreconditionViolations: []apperr.PreconditionViolation{{Type: "STOCK", Subject: "products/1", Description: "requested 3, available 1"}},
			},
		},
		{
			name: "unavailable",
			err:  apperr.Unavailable("catalogue", "catalogue unavailable: timed out"),
			want: apperr.Error{Kind: apperr.KindUnavailable, Message: "catalogue unavailable: timed out", Dependency: "catalogue"},
		},
		{name: "not found", err: apperr.NotFound("order 1 not found"), want: apperr.Error{Kind: apperr.KindNotFound, Message: "order 1 not found"}},
		{name: "already exists", err: apperr.AlreadyExists("sku taken"), want: apperr.Error{Kind: apperr.KindAlreadyExists, Message: "sku taken"}},
		{name: "aborted", err: apperr.Aborted("in progress"), want: apperr.Error{Kind: apperr.KindAborted, Message: "in progress"}},
		{name: "permission denied", err: apperr.PermissionDenied("not yours"), want: apperr.Error{Kind: apperr.KindPermissionDenied, Message: "not yours"}},
		{name: "unauthenticated", err: apperr.Unauthenticated("who are you"), want: apperr.Error{Kind: apperr.KindUnauthenticated, Message: "who are you"}},
		{name: "resource exhausted", err: apperr.ResourceExhausted("fell behind"), want: apperr.Error{Kind: apperr.KindResourceExhausted, Message: "fell behind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(&tt.want, tt.err, cmp.AllowUnexported(apperr.Error{})); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorKeepsMessageApartFromCause(t *testing.T) {
	t.Parallel()
	cause := errors.New(`dial tcp 10.1.2.3:50051: connection refused`)
	e := apperr.Unavailable("catalogue", "catalogue unavailable: not reachable").WithCause(cause)
	if got, want := e.Message, "catalogue unavailable: not reachable"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if got, want := e.Error(), "catalogue unavailable: not reachable: dial tcp 10.1.2.3:50051: connection refused"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) {
		t.Error("errors.Is(e, cause) = false; the cause must stay in the chain")
	}
}

func TestIs(t *testing.T) {
	t.Parallel()
	own := apperr.FailedPrecondition("IDEMPOTENCY_KEY_REUSED", "key reused")
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{name: "kind sentinel matches its kind", err: apperr.NotFound("order 1 not found"), target: apperr.ErrNotFound, want: true},
		{name: "through wrapping", err: fmt.Errorf("get order: %w", apperr.Invalid("id", "bad")), target: apperr.ErrInvalidArgument, want: true},
		{name: "kind sentinel ignores other kinds", err: apperr.NotFound("x"), target: apperr.ErrInvalidArgument, want: false},
		{name: "error matches itself", err: fmt.Errorf("place: %w", own), target: own, want: true},
		{name: "an equal error is not the same error", err: apperr.FailedPrecondition("IDEMPOTENCY_KEY_REUSED", "key reused"), target: own, want: false},
		{name: "own error matches its kind sentinel", err: own, target: apperr.ErrFailedPrecondition, want: true},
		{name: "a copy of a sentinel is not a sentinel", err: apperr.NotFound("x"), target: apperr.ErrNotFound.WithReason("R"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errors.Is(tt.err, tt.target); got != tt.want {
				t.Errorf("errors.Is(%v, %v) = %t, want %t", tt.err, tt.target, got, tt.want)
			}
		})
	}
}

func TestWithDoesNotChangeTheOriginal(t *testing.T) {
	t.Parallel()
	base := apperr.Aborted("busy")
	withReason := base.WithReason("REQUEST_IN_PROGRESS")
	withCause := base.WithCause(errors.New("lock held"))
	if base.Reason != "" || base.Cause != nil {
		t.Errorf("base changed: reason %q, cause %v", base.Reason, base.Cause)
	}
	if withReason.Reason != "REQUEST_IN_PROGRESS" || withCause.Cause == nil {
		t.Errorf("copies lack their change: reason %q, cause %v", withReason.Reason, withCause.Cause)
	}
	if got := apperr.ErrNotFound.WithReason("ORDER_NOT_FOUND"); errors.Is(apperr.NotFound("x"), got) {
		t.Error("a copy of ErrNotFound still matches every not-found error")
	}
}

func TestReasonOrKind(t *testing.T) {
	t.Parallel()
	if got := apperr.NotFound("x").ReasonOrKind(); got != "NOT_FOUND" {
		t.Errorf("no reason: %q, want NOT_FOUND", got)
	}
	if got := apperr.NotFound("x").WithReason("ORDER_NOT_FOUND").ReasonOrKind(); got != "ORDER_NOT_FOUND" {
		t.Errorf("with reason: %q, want ORDER_NOT_FOUND", got)
	}
}

// shortage is a domain error with its own fields that describes itself
// with the kit, as a service's would.
type shortage struct{ product string }

func (s *shortage) Error() string { return "insufficient stock of " + s.product }

func (s *shortage) AppError() *apperr.Error {
	return apperr.FailedPrecondition("INSUFFICIENT_STOCK", s.Error())
}

func TestFrom(t *testing.T) {
	t.Parallel()
	inner := apperr.NotFound("inner")
	tests := []struct {
		name   string
		err    error
		want   *apperr.Error
		wantOK bool
	}{
		{name: "error", err: inner, want: inner, wantOK: true},
		{name: "wrapped", err: fmt.Errorf("get: %w", inner), want: inner, wantOK: true},
		{name: "describer", err: fmt.Errorf("reserve: %w", &shortage{product: "lamp"}), want: apperr.FailedPrecondition("INSUFFICIENT_STOCK", "insufficient stock of lamp"), wantOK: true},
		{name: "outermost wins", err: apperr.Unavailable("catalogue", "down").WithCause(inner), want: apperr.Unavailable("catalogue", "down").WithCause(inner), wantOK: true},
		{name: "plain error", err: errors.New("boom"), wantOK: false},
		{name: "nil", err: nil, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := apperr.From(tt.err)
			if ok != tt.wantOK {
				t.Fatalf("ok = %t, want %t", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(apperr.Error{}), cmpopts.IgnoreFields(apperr.Error{}, "Cause")); diff != "" {
				t.Errorf("From (-want +got):\n%s", diff)
			}
			if got != nil && !errors.Is(got.Cause, tt.want.Cause) {
				t.Errorf("Cause = %v, want %v", got.Cause, tt.want.Cause)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	if got := apperr.Kind(0).String(); got != "UNKNOWN" {
		t.Errorf("Kind(0) = %q, want UNKNOWN", got)
	}
	if got := apperr.KindResourceExhausted.String(); got != "RESOURCE_EXHAUSTED" {
		t.Errorf("KindResourceExhausted = %q", got)
	}
	if got := apperr.ErrPermissionDenied.Error(); got != "permission denied" {
		t.Errorf("ErrPermissionDenied.Error() = %q, want %q", got, "permission denied")
	}
}
