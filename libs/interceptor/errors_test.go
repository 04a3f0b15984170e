package interceptor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/libs/interceptor"
	"github.com/storefront-go/storefront/libs/telemetry"
)

const (
	testMethod  = "/catalogue.v1.CatalogueService/GetProduct"
	testService = "catalogue.v1.CatalogueService"
	testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
)

// shortage is a domain error with fields of its own that describes itself
// with the kit, as the services' typed errors do.
type shortage struct {
	product   string
	requested int
}

func (s *shortage) Error() string { return "insufficient stock of " + s.product }

func (s *shortage) AppError() *apperr.Error {
	return apperr.FailedPrecondition("INSUFFICIENT_STOCK", s.Error(), apperr.PreconditionViolation{
		Type: "STOCK", Subject: "products/" + s.product, Description: fmt.Sprintf("requested %d", s.requested),
	})
}

// tracedContext returns the test's context carrying a sampled span, so
// that the telemetry logger adds trace_id.
func tracedContext(t *testing.T) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex(testTraceID)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	if err != nil {
		t.Fatal(err)
	}
	return trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
}

// logLines parses the JSON log lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func info(reason string) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Reason: reason, Domain: testService}
}

func TestUnaryErrors(t *testing.T) {
	t.Parallel()
	sql := errors.New(`get product: ERROR: relation "products" does not exist (SQLSTATE 42P01)`)
	tests := []struct {
		name        string
		err         error
		wantCode    codes.Code
		wantMsg     string
		wantDetails []any
		// wantLog is the message of the one line logged, or "" for none;
		// wantLogError is part of the error it logs.
		wantLog      string
		wantLogError string
	}{
		{
			name:     "invalid argument",
			err:      apperr.InvalidFields(apperr.FieldViolation{Field: "name", Description: "must not be empty"}, apperr.FieldViolation{Field: "sku", Description: "is too long"}),
			wantCode: codes.InvalidArgument,
			wantMsg:  "invalid argument: name: must not be empty; sku: is too long",
			wantDetails: []any{info("INVALID_ARGUMENT"), &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: "name", Description: "must not be empty"},
				{Field: "sku", Description: "is too long"},
			}}},
		},
		{
			name:        "not found, wrapped",
			err:         fmt.Errorf("update order 42: lock: %w", apperr.NotFound("order 42 not found").WithReason("ORDER_NOT_FOUND")),
			wantCode:    codes.NotFound,
			wantMsg:     "order 42 not found",
			wantDetails: []any{info("ORDER_NOT_FOUND")},
		},
		{
			name:     "failed precondition",
			err:      apperr.FailedPrecondition("RESERVATION_ENDED", "reservation r is EXPIRED", apperr.PreconditionViolation{Type: "RESERVATION_STATUS", Subject: "reservations/r", Description: "reservation is EXPIRED"}),
			wantCode: codes.FailedPrecondition,
			wantMsg:  "reservation r is EXPIRED",
			wantDetails: []any{info("RESERVATION_ENDED"), &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
				{Type: "RESERVATION_STATUS", Subject: "reservations/r", Description: "reservation is EXPIRED"},
			}}},
		},
		{
			name:     "describer, wrapped",
			err:      fmt.Errorf("reserve stock for order 7: %w", &shortage{product: "lamp", requested: 3}),
			wantCode: codes.FailedPrecondition,
			wantMsg:  "insufficient stock of lamp",
			wantDetails: []any{info("INSUFFICIENT_STOCK"), &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
				{Type: "STOCK", Subject: "products/lamp", Description: "requested 3"},
			}}},
		},
		{name: "already exists", err: apperr.AlreadyExists(`sku "LAMP-1" is taken`), wantCode: codes.AlreadyExists, wantMsg: `sku "LAMP-1" is taken`, wantDetails: []any{info("ALREADY_EXISTS")}},
		{name: "aborted", err: apperr.Aborted("still in progress").WithReason("REQUEST_IN_PROGRESS"), wantCode: codes.Aborted, wantMsg: "still in progress", wantDetails: []any{info("REQUEST_IN_PROGRESS")}},
		{name: "permission denied", err: apperr.PermissionDenied("not yours"), wantCode: codes.PermissionDenied, wantMsg: "not yours", wantDetails: []any{info("PERMISSION_DENIED")}},
		{name: "unauthenticated", err: apperr.Unauthenticated("missing caller identity"), wantCode: codes.Unauthenticated, wantMsg: "missing caller identity", wantDetails: []any{info("UNAUTHENTICATED")}},
		{name: "resource exhausted", err: apperr.ResourceExhausted("watcher fell behind"), wantCode: codes.ResourceExhausted, wantMsg: "watcher fell behind", wantDetails: []any{info("RESOURCE_EXHAUSTED")}},
		{name: "kind sentinel", err: fmt.Errorf("update order 42: %w", apperr.ErrPermissionDenied), wantCode: codes.PermissionDenied, wantMsg: "permission denied", wantDetails: []any{info("PERMISSION_DENIED")}},
		{
			name:     "unavailable dependency",
			err:      fmt.Errorf("place order: %w", apperr.Unavailable("catalogue", "catalogue unavailable: not reachable").WithCause(errors.New("dial tcp 10.1.2.3:50051"))),
			wantCode: codes.Unavailable,
			wantMsg:  "catalogue unavailable: not reachable",
			wantDetails: []any{&errdetails.ErrorInfo{
				Reason: "UNAVAILABLE", Domain: testService, Metadata: map[string]string{"dependency": "catalogue"},
			}},
			wantLog:      "dependency unavailable",
			wantLogError: "dial tcp 10.1.2.3:50051",
		},
		{name: "unavailable server", err: apperr.Unavailable("", "server is shutting down"), wantCode: codes.Unavailable, wantMsg: "server is shutting down", wantDetails: []any{info("UNAVAILABLE")}},
		{name: "cancelled", err: fmt.Errorf("query: %w", context.Canceled), wantCode: codes.Canceled, wantMsg: "request cancelled"},
		{name: "deadline", err: fmt.Errorf("query: %w", context.DeadlineExceeded), wantCode: codes.DeadlineExceeded, wantMsg: "deadline exceeded"},
		{name: "unmapped", err: fmt.Errorf("load: %w", sql), wantCode: codes.Internal, wantMsg: "internal error", wantLog: "request failed", wantLogError: "SQLSTATE 42P01"},
		{name: "kit error without a kind", err: &apperr.Error{Message: "who knows"}, wantCode: codes.Internal, wantMsg: "internal error", wantLog: "request failed", wantLogError: "who knows"},
		{name: "status passes through", err: status.Error(codes.Unavailable, "transport is closing"), wantCode: codes.Unavailable, wantMsg: "transport is closing"},
		{name: "unknown status passes through, logged", err: status.Error(codes.Unknown, "something odd"), wantCode: codes.Unknown, wantMsg: "something odd", wantLog: "request failed", wantLogError: "something odd"},
		{
			name:         "wrapped status is a call this server made",
			err:          fmt.Errorf("reserve stock for order 7: %w", status.Error(codes.AlreadyExists, "reservation 7 already exists with different items")),
			wantCode:     codes.Internal,
			wantMsg:      "internal error",
			wantLog:      "request failed",
			wantLogError: "reserve stock for order 7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			unary := interceptor.UnaryErrors(telemetry.NewLogger(&logs, slog.LevelDebug, "test"))
			_, err := unary(tracedContext(t), nil, &grpc.UnaryServerInfo{FullMethod: testMethod}, func(context.Context, any) (any, error) {
				return nil, tt.err
			})

			st, ok := status.FromError(err)
			if !ok {
				t.Fatalf("error %v is not a status", err)
			}
			if st.Code() != tt.wantCode || st.Message() != tt.wantMsg {
				t.Errorf("status = %v %q, want %v %q", st.Code(), st.Message(), tt.wantCode, tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantDetails, st.Details(), protocmp.Transform(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			for _, leak := range []string{"SQLSTATE", "dial tcp", "update order", "reserve stock", "place order"} {
				if strings.Contains(st.Message(), leak) {
					t.Errorf("message %q leaks %q", st.Message(), leak)
				}
			}

			lines := logLines(t, &logs)
			if tt.wantLog == "" {
				if len(lines) != 0 {
					t.Errorf("logged %v, want nothing", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("logged %d lines, want 1: %v", len(lines), lines)
			}
			line := lines[0]
			if line["msg"] != tt.wantLog || line["method"] != testMethod || line["trace_id"] != testTraceID {
				t.Errorf("log line = %v, want msg %q with method %s and trace_id %s", line, tt.wantLog, testMethod, testTraceID)
			}
			if logged, _ := line["error"].(string); !strings.Contains(logged, tt.wantLogError) {
				t.Errorf("logged error %q does not contain %q", logged, tt.wantLogError)
			}
		})
	}
}

// The unmapped error's full chain goes to the log, not to the caller.
func TestUnaryErrorsLogsTheChain(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	unary := interceptor.UnaryErrors(telemetry.NewLogger(&logs, slog.LevelDebug, "test"))
	_, err := unary(t.Context(), nil, &grpc.UnaryServerInfo{FullMethod: testMethod}, func(context.Context, any) (any, error) {
		return nil, fmt.Errorf("get product 7: %w", errors.New("SQLSTATE 42P01"))
	})
	if status.Convert(err).Message() != "internal error" {
		t.Errorf("message = %q, want %q", status.Convert(err).Message(), "internal error")
	}
	lines := logLines(t, &logs)
	if len(lines) != 1 || lines[0]["error"] != "get product 7: SQLSTATE 42P01" {
		t.Errorf("log lines = %v, want one with the error chain", lines)
	}
}

func TestUnaryErrorsContextDone(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancelExpired := context.WithDeadline(t.Context(), time.Unix(0, 0))
	defer cancelExpired()
	tests := []struct {
		name     string
		ctx      context.Context //nolint:containedctx // the context under test.
		err      error
		wantCode codes.Code
	}{
		{name: "cancelled beats a kit error", ctx: cancelled, err: apperr.NotFound("x"), wantCode: codes.Canceled},
		{name: "cancelled beats a plain error", ctx: cancelled, err: errors.New("conn closed"), wantCode: codes.Canceled},
		{name: "expired beats a status", ctx: expired, err: status.Error(codes.Unavailable, "transport is closing"), wantCode: codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			unary := interceptor.UnaryErrors(telemetry.NewLogger(&logs, slog.LevelDebug, "test"))
			_, err := unary(tt.ctx, nil, &grpc.UnaryServerInfo{FullMethod: testMethod}, func(context.Context, any) (any, error) {
				return nil, tt.err
			})
			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code = %v, want %v", got, tt.wantCode)
			}
			if logs.Len() != 0 {
				t.Errorf("logged %q, want nothing", logs.String())
			}
		})
	}
}

func TestUnaryErrorsSuccess(t *testing.T) {
	t.Parallel()
	unary := interceptor.UnaryErrors(slog.New(slog.DiscardHandler))
	resp, err := unary(t.Context(), nil, &grpc.UnaryServerInfo{FullMethod: testMethod}, func(context.Context, any) (any, error) {
		return "ok", nil
	})
	if err != nil || resp != "ok" {
		t.Errorf("got %v, %v; want ok, nil", resp, err)
	}
}

// fakeStream is a ServerStream with only a context.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context //nolint:containedctx // a ServerStream must carry its context.
}

func (s *fakeStream) Context() context.Context { return s.ctx }

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	const method = "/catalogue.v1.CatalogueService/WatchAvailability"
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
		wantLogs int
	}{
		{name: "success", err: nil, wantCode: codes.OK},
		{name: "kit error", err: fmt.Errorf("watch: %w", apperr.ResourceExhausted("watcher fell behind; reconnect")), wantCode: codes.ResourceExhausted, wantMsg: "watcher fell behind; reconnect"},
		{name: "failed send", err: status.Error(codes.Unavailable, "transport is closing"), wantCode: codes.Unavailable, wantMsg: "transport is closing"},
		{name: "unmapped", err: errors.New("boom"), wantCode: codes.Internal, wantMsg: "internal error", wantLogs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			stream := interceptor.StreamErrors(telemetry.NewLogger(&logs, slog.LevelDebug, "test"))
			ss := &fakeStream{ctx: tracedContext(t)}
			err := stream(nil, ss, &grpc.StreamServerInfo{FullMethod: method, IsServerStream: true}, func(any, grpc.ServerStream) error {
				return tt.err
			})
			st := status.Convert(err)
			if st.Code() != tt.wantCode || st.Message() != tt.wantMsg {
				t.Errorf("status = %v %q, want %v %q", st.Code(), st.Message(), tt.wantCode, tt.wantMsg)
			}
			lines := logLines(t, &logs)
			if len(lines) != tt.wantLogs {
				t.Fatalf("logged %d lines, want %d: %v", len(lines), tt.wantLogs, lines)
			}
			for _, l := range lines {
				if l["method"] != method || l["trace_id"] != testTraceID {
					t.Errorf("log line = %v, want method %s and trace_id %s", l, method, testTraceID)
				}
			}
		})
	}
}
