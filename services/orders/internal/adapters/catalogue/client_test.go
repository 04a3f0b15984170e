package catalogue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/services/orders/internal/adapters/catalogue"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// fakeConn answers every call with resp or err, and records the requests.
type fakeConn struct {
	resp proto.Message
	err  error
	reqs []any
}

func (c *fakeConn) Invoke(_ context.Context, _ string, args, reply any, _ ...grpc.CallOption) error {
	c.reqs = append(c.reqs, args)
	if c.err != nil {
		return c.err
	}
	msg, ok := reply.(proto.Message)
	if !ok {
		return fmt.Errorf("reply %T is not a proto message", reply)
	}
	proto.Merge(msg, c.resp)
	return nil
}

func (*fakeConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errors.New("not used")
}

var (
	prodA = uuid.MustParse("0190a0e8-0000-7000-8000-00000000000a")
	prodB = uuid.MustParse("0190a0e8-0000-7000-8000-00000000000b")
)

func TestProducts(t *testing.T) {
	t.Parallel()
	conn := &fakeConn{resp: &cataloguev1.BatchGetProductsResponse{Products: []*cataloguev1.Product{
		{Id: prodA.String(), Sku: "A", Name: "Apple", Price: &cataloguev1.Money{AmountMinor: 120, CurrencyCode: "EUR"}},
	}}}
	got, err := catalogue.New(conn, nil).Products(t.Context(), []uuid.UUID{prodA})
	if err != nil {
		t.Fatalf("Products: %v", err)
	}
	want := []domain.Product{{ID: prodA, SKU: "A", Name: "Apple", Price: domain.Money{AmountMinor: 120, CurrencyCode: "EUR"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Products mismatch (-want +got):\n%s", diff)
	}

	conn = &fakeConn{resp: &cataloguev1.BatchGetProductsResponse{NotFoundIds: []string{prodB.String()}}}
	_, err = catalogue.New(conn, nil).Products(t.Context(), []uuid.UUID{prodA, prodB})
	var nf *domain.ProductNotFoundError
	if !errors.As(err, &nf) || len(nf.IDs) != 1 || nf.IDs[0] != prodB {
		t.Errorf("Products with an unknown id: %v, want ProductNotFoundError naming %s", err, prodB)
	}
}

func withDetail(t *testing.T, st *status.Status, d *errdetails.PreconditionFailure) error {
	t.Helper()
	sd, err := st.WithDetails(d)
	if err != nil {
		t.Fatalf("with details: %v", err)
	}
	return sd.Err()
}

func TestReserveErrors(t *testing.T) {
	t.Parallel()
	items := []domain.Item{{ProductID: prodA, Quantity: 1}, {ProductID: prodB, Quantity: 6}}
	tests := []struct {
		name string
		err  error
		// want is the sentinel the error must match; nil means an
		// unexpected (internal) error that matches none.
		want    error
		message string
	}{
		{
			name:    "breaker open",
			err:     status.Error(codes.Unavailable, "catalogue: circuit breaker open"),
			want:    domain.ErrCatalogueUnavailable,
			message: "catalogue unavailable: circuit breaker open",
		},
		{
			name:    "connection refused",
			err:     status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.7:50051: connect: connection refused"`),
			want:    domain.ErrCatalogueUnavailable,
			message: "catalogue unavailable: not reachable",
		},
		{
			name:    "timed out",
			err:     status.Error(codes.DeadlineExceeded, "context deadline exceeded"),
			want:    domain.ErrCatalogueUnavailable,
			message: "catalogue unavailable: timed out",
		},
		{
			name: "insufficient stock with details",
			err: withDetail(t, status.New(codes.FailedPrecondition, "insufficient stock: product "+prodB.String()+": requested 6, available 5"),
				&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
					{Type: "STOCK", Subject: "products/" + prodB.String(), Description: "requested 6, available 5"},
				}}),
			want:    domain.ErrInsufficientStock,
			message: "insufficient stock: product " + prodB.String() + " (requested 6, available 5)",
		},
		{
			name:    "insufficient stock, message only",
			err:     status.Error(codes.FailedPrecondition, "insufficient stock: product "+prodB.String()+": requested 6, available 5"),
			want:    domain.ErrInsufficientStock,
			message: "insufficient stock: product " + prodB.String(),
		},
		{
			name:    "other precondition",
			err:     status.Error(codes.FailedPrecondition, "product is archived"),
			want:    domain.ErrFailedPrecondition,
			message: "catalogue: product is archived",
		},
		{
			name:    "product deleted meanwhile",
			err:     status.Error(codes.NotFound, "product "+prodA.String()+" not found"),
			want:    domain.ErrNotFound,
			message: "product " + prodA.String() + " not found",
		},
		{
			name: "token rejected",
			err:  status.Error(codes.PermissionDenied, "permission denied"),
		},
		{
			name: "reservation conflict",
			err:  status.Error(codes.AlreadyExists, "reservation exists with different items"),
		},
	}
	sentinels := []error{domain.ErrCatalogueUnavailable, domain.ErrInsufficientStock, domain.ErrNotFound, domain.ErrFailedPrecondition}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := catalogue.New(&fakeConn{err: tc.err}, nil).Reserve(t.Context(), uuid.New(), items)
			if err == nil {
				t.Fatal("Reserve succeeded")
			}
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), tc.want != nil && errors.Is(tc.want, s); got != want {
					t.Errorf("errors.Is(%v, %v) = %t, want %t", err, s, got, want)
				}
			}
			if tc.message != "" && err.Error() != tc.message {
				t.Errorf("message = %q, want %q", err.Error(), tc.message)
			}
			var unavailable *domain.CatalogueUnavailableError
			if errors.As(err, &unavailable) && unavailable.Unsent != (tc.name == "breaker open") {
				t.Errorf("Unsent = %t; only a breaker rejection is known unsent", unavailable.Unsent)
			}
		})
	}
}

func TestReserveNeedsActiveReservation(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	conn := &fakeConn{resp: &cataloguev1.ReserveStockResponse{Reservation: &cataloguev1.Reservation{
		Id: id.String(), Status: cataloguev1.ReservationStatus_RESERVATION_STATUS_ACTIVE,
	}}}
	if err := catalogue.New(conn, nil).Reserve(t.Context(), id, []domain.Item{{ProductID: prodA, Quantity: 2}}); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	req, ok := conn.reqs[0].(*cataloguev1.ReserveStockRequest)
	if !ok || req.GetReservationId() != id.String() || len(req.GetItems()) != 1 || req.GetItems()[0].GetQuantity() != 2 {
		t.Errorf("ReserveStock request = %v", conn.reqs[0])
	}

	released := &fakeConn{resp: &cataloguev1.ReserveStockResponse{Reservation: &cataloguev1.Reservation{
		Id: id.String(), Status: cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED,
	}}}
	if err := catalogue.New(released, nil).Reserve(t.Context(), id, []domain.Item{{ProductID: prodA, Quantity: 2}}); err == nil {
		t.Error("Reserve accepted a released reservation")
	}
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	conn := &fakeConn{resp: &cataloguev1.ConfirmReservationResponse{Reservation: &cataloguev1.Reservation{
		Id: id.String(), Status: cataloguev1.ReservationStatus_RESERVATION_STATUS_CONFIRMED,
	}}}
	if err := catalogue.New(conn, nil).Confirm(t.Context(), id); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if req, ok := conn.reqs[0].(*cataloguev1.ConfirmReservationRequest); !ok || req.GetReservationId() != id.String() {
		t.Errorf("ConfirmReservation request = %v", conn.reqs[0])
	}

	tests := []struct {
		name string
		err  error
		// want is the sentinel the error must match; nil means an
		// unexpected error that matches none.
		want error
	}{
		{name: "expired", err: status.Error(codes.FailedPrecondition, "reservation "+id.String()+" is EXPIRED: its stock is no longer held"), want: domain.ErrReservationEnded},
		{name: "unknown", err: status.Error(codes.NotFound, "reservation "+id.String()+" not found"), want: domain.ErrReservationEnded},
		{name: "unavailable", err: status.Error(codes.Unavailable, "catalogue: circuit breaker open"), want: domain.ErrCatalogueUnavailable},
		{name: "timed out", err: status.Error(codes.DeadlineExceeded, "context deadline exceeded"), want: domain.ErrCatalogueUnavailable},
		{name: "older catalogue", err: status.Error(codes.Unimplemented, "unknown method ConfirmReservation")},
		{name: "token rejected", err: status.Error(codes.PermissionDenied, "permission denied")},
	}
	sentinels := []error{domain.ErrReservationEnded, domain.ErrCatalogueUnavailable, domain.ErrNotFound, domain.ErrFailedPrecondition, domain.ErrInsufficientStock}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := catalogue.New(&fakeConn{err: tc.err}, nil).Confirm(t.Context(), id)
			if err == nil {
				t.Fatal("Confirm succeeded")
			}
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), tc.want != nil && errors.Is(tc.want, s); got != want {
					t.Errorf("errors.Is(%v, %v) = %t, want %t", err, s, got, want)
				}
			}
			var ended *domain.ReservationEndedError
			if errors.As(err, &ended) && (ended.OrderID != id || !strings.Contains(ended.Detail, id.String())) {
				t.Errorf("ReservationEndedError = %+v, want order %s and catalogue's message", ended, id)
			}
		})
	}
}

func TestCallerDeadlineWins(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := catalogue.New(&fakeConn{err: status.Error(codes.Canceled, "context canceled")}, nil).Release(ctx, uuid.New())
	if !errors.Is(err, context.Canceled) || errors.Is(err, domain.ErrCatalogueUnavailable) {
		t.Errorf("Release after the caller gave up: %v, want context.Canceled", err)
	}
}

func TestFileTokenFollowsRotation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := catalogue.NewCredentials("ignored-static", path)
	if err != nil {
		t.Fatalf("NewCredentials: %v", err)
	}
	header := func() string {
		t.Helper()
		md, err := creds.GetRequestMetadata(t.Context())
		if err != nil {
			t.Fatalf("GetRequestMetadata: %v", err)
		}
		return md["authorization"]
	}
	if got := header(); got != "Bearer first-token" {
		t.Errorf("header = %q, want the file's token", got)
	}
	// A rotated token of another length and a later mtime is picked up.
	if err := os.WriteFile(path, []byte("second-token-longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if got := header(); got != "Bearer second-token-longer" {
		t.Errorf("header after rotation = %q, want the new token", got)
	}
	// While the file is gone the last good token is kept.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := header(); got != "Bearer second-token-longer" {
		t.Errorf("header with the file gone = %q, want the last good token", got)
	}
}

func TestNewCredentials(t *testing.T) {
	t.Parallel()
	creds, err := catalogue.NewCredentials(" static-token ", "")
	if err != nil {
		t.Fatalf("NewCredentials: %v", err)
	}
	md, err := creds.GetRequestMetadata(t.Context())
	if err != nil || md["authorization"] != "Bearer static-token" {
		t.Errorf("static token header = %q, %v", md["authorization"], err)
	}
	if _, err := catalogue.NewCredentials("", ""); err == nil || !strings.Contains(err.Error(), "CATALOGUE_TOKEN") {
		t.Errorf("no token: %v, want an error naming the variables", err)
	}
	if _, err := catalogue.NewCredentials("", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing token file accepted")
	}
}

func TestIdempotentMethods(t *testing.T) {
	t.Parallel()
	want := []string{
		"/catalogue.v1.CatalogueService/BatchGetProducts",
		"/catalogue.v1.CatalogueService/ReserveStock",
		"/catalogue.v1.CatalogueService/ConfirmReservation",
		"/catalogue.v1.CatalogueService/ReleaseStock",
	}
	if diff := cmp.Diff(want, catalogue.IdempotentMethods()); diff != "" {
		t.Errorf("idempotent methods mismatch (-want +got):\n%s", diff)
	}
}
