package main

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

const (
	orderID   = "0190f6a0-0000-7000-8000-0000000000c1"
	customer  = "alice"
	ordersTok = "orders-token"
)

func eur(minor int64) *ordersv1.Money {
	return &ordersv1.Money{AmountMinor: minor, CurrencyCode: "EUR"}
}

func placedOrder() *ordersv1.Order {
	return &ordersv1.Order{
		Id: orderID, CustomerId: customer, Status: ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED,
		Lines: []*ordersv1.OrderLine{
			{ProductId: mugID, Sku: "MUG-BLUE-01", Name: "Blue Mug", Quantity: 2, UnitPrice: eur(1299), LineTotal: eur(2598)},
		},
		Total: eur(2598), CreatedAt: timestamppb.New(fixedTime), UpdatedAt: timestamppb.New(fixedTime),
	}
}

// fakeOrders is an OrderService that records the requests and bearer
// tokens it got and answers with one canned order.
type fakeOrders struct {
	ordersv1.UnimplementedOrderServiceServer

	mu    sync.Mutex
	reqs  []proto.Message
	authz []string
}

func (f *fakeOrders) record(ctx context.Context, req proto.Message) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	f.authz = append(f.authz, strings.Join(md.Get("authorization"), ","))
}

func (f *fakeOrders) seen() ([]proto.Message, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.reqs...), append([]string(nil), f.authz...)
}

func (f *fakeOrders) PlaceOrder(ctx context.Context, req *ordersv1.PlaceOrderRequest) (*ordersv1.PlaceOrderResponse, error) {
	f.record(ctx, req)
	if req.GetItems()[0].GetQuantity() > 10 {
		return nil, status.Errorf(codes.FailedPrecondition, "insufficient stock for product %s", req.GetItems()[0].GetProductId())
	}
	return &ordersv1.PlaceOrderResponse{Order: placedOrder()}, nil
}

func (f *fakeOrders) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.GetOrderResponse, error) {
	f.record(ctx, req)
	if req.GetOrderId() != orderID {
		return nil, status.Errorf(codes.NotFound, "order %s not found", req.GetOrderId())
	}
	return &ordersv1.GetOrderResponse{Order: placedOrder()}, nil
}

func (f *fakeOrders) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	f.record(ctx, req)
	return &ordersv1.ListOrdersResponse{Orders: []*ordersv1.Order{placedOrder()}, NextPageToken: "cursor-2"}, nil
}

func (f *fakeOrders) CancelOrder(ctx context.Context, req *ordersv1.CancelOrderRequest) (*ordersv1.CancelOrderResponse, error) {
	f.record(ctx, req)
	o := placedOrder()
	o.Status = ordersv1.OrderStatus_ORDER_STATUS_CANCELLED
	o.CancelledAt = timestamppb.New(fixedTime)
	return &ordersv1.CancelOrderResponse{Order: o}, nil
}

func startOrders(t *testing.T) (string, *fakeOrders) {
	t.Helper()
	fake := &fakeOrders{}
	return testenv.ServeGRPC(t, func(srv *grpc.Server) { ordersv1.RegisterOrderServiceServer(srv, fake) }), fake
}

const orderText = `order 0190f6a0-0000-7000-8000-0000000000c1: CONFIRMED
customer:  alice
total:     25.98 EUR
created:   2026-01-02T03:04:05Z
  0190f6a0-0000-7000-8000-000000000001  MUG-BLUE-01       x2  at 12.99 EUR  = 25.98 EUR  Blue Mug
`

func TestOrdersCommands(t *testing.T) {
	t.Parallel()
	addr, fake := startOrders(t)
	// The orders address comes from the environment here, the token from
	// the flag; --addr (the catalogue) must not be used.
	env := map[string]string{"STOREFRONT_ORDERS_ADDR": addr}
	tests := []struct {
		name    string
		args    []string
		want    string
		wantReq proto.Message
	}{
		{
			name:    "place with a key",
			args:    []string{"orders", "place", "--key", "order-key-0001", mugID + "=2"},
			want:    orderText,
			wantReq: &ordersv1.PlaceOrderRequest{IdempotencyKey: "order-key-0001", Items: []*ordersv1.OrderItem{{ProductId: mugID, Quantity: 2}}},
		},
		{
			name:    "get",
			args:    []string{"orders", "get", orderID},
			want:    orderText,
			wantReq: &ordersv1.GetOrderRequest{OrderId: orderID},
		},
		{
			name: "list",
			args: []string{"orders", "list", "--page-size", "5", "--customer", "bob"},
			want: "ID                                    STATUS               TOTAL  LINES  CREATED               CUSTOMER\n" +
				"0190f6a0-0000-7000-8000-0000000000c1  CONFIRMED        25.98 EUR      1  2026-01-02T03:04:05Z  alice\n" +
				"next page: --page-token cursor-2\n",
			wantReq: &ordersv1.ListOrdersRequest{CustomerId: "bob", PageSize: 5},
		},
		{
			name: "cancel",
			args: []string{"orders", "cancel", "--reason", "changed my mind", orderID},
			want: `order 0190f6a0-0000-7000-8000-0000000000c1: CANCELLED
customer:  alice
total:     25.98 EUR
created:   2026-01-02T03:04:05Z
cancelled: 2026-01-02T03:04:05Z
  0190f6a0-0000-7000-8000-000000000001  MUG-BLUE-01       x2  at 12.99 EUR  = 25.98 EUR  Blue Mug
`,
			wantReq: &ordersv1.CancelOrderRequest{OrderId: orderID, Reason: "changed my mind"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := fake.seen()
			args := append([]string{"--addr", "127.0.0.1:1", "--token", ordersTok}, tt.args...)
			got := runCLI(t, env, args...)
			if got.code != exitOK || got.stderr != "" {
				t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
			}
			if diff := cmp.Diff(tt.want, got.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			reqs, authz := fake.seen()
			if len(reqs) != len(before)+1 {
				t.Fatalf("server got %d requests, want 1", len(reqs)-len(before))
			}
			if diff := cmp.Diff(tt.wantReq, reqs[len(reqs)-1], protocmp.Transform()); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if want := "Bearer " + ordersTok; authz[len(authz)-1] != want {
				t.Errorf("authorization %q, want %q", authz[len(authz)-1], want)
			}
		})
	}
}

func TestOrdersPlaceMintsAKey(t *testing.T) {
	t.Parallel()
	addr, fake := startOrders(t)
	got := runCLI(t, nil, "--orders-addr", addr, "--json", "orders", "place", mugID+"=1")
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
	}
	reqs, _ := fake.seen()
	if len(reqs) != 1 {
		t.Fatalf("server got %d requests, want 1", len(reqs))
	}
	req, _ := reqs[0].(*ordersv1.PlaceOrderRequest)
	key := req.GetIdempotencyKey()
	if u, err := uuid.Parse(key); err != nil || u.Version() != 7 {
		t.Errorf("idempotency key %q, want a UUIDv7 (%v)", key, err)
	}
	// The key is printed, so the same order can be placed again safely.
	if want := "idempotency key: " + key + "\n"; got.stderr != want {
		t.Errorf("stderr %q, want %q", got.stderr, want)
	}
	var resp ordersv1.PlaceOrderResponse
	if err := protojson.Unmarshal([]byte(got.stdout), &resp); err != nil {
		t.Fatalf("stdout is not a PlaceOrderResponse: %v\n%s", err, got.stdout)
	}
	if diff := cmp.Diff(placedOrder(), resp.GetOrder(), protocmp.Transform()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestOrdersErrors(t *testing.T) {
	t.Parallel()
	addr, _ := startOrders(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{
			name:       "insufficient stock",
			args:       []string{"orders", "place", "--key", "order-key-0002", mugID + "=11"},
			wantCode:   exitError,
			wantStderr: "error: FAILED_PRECONDITION: insufficient stock for product " + mugID + "\n",
		},
		{
			name:       "unknown order",
			args:       []string{"orders", "get", unknown},
			wantCode:   exitError,
			wantStderr: "error: NOT_FOUND: order " + unknown + " not found\n",
		},
		{
			name:       "no items",
			args:       []string{"orders", "place"},
			wantCode:   exitUsage,
			wantStderr: "error: orders place: want at least one PRODUCT_ID=QTY\n",
		},
		{
			name:       "bad item",
			args:       []string{"orders", "place", mugID + "=-1"},
			wantCode:   exitUsage,
			wantStderr: "error: orders place: \"" + mugID + "=-1\": quantity must be a positive integer\n",
		},
		{
			name:       "cancel without an id",
			args:       []string{"orders", "cancel"},
			wantCode:   exitUsage,
			wantStderr: "error: orders cancel: want exactly one ORDER_ID\n",
		},
		{
			name:       "unknown subcommand",
			args:       []string{"orders", "refund", orderID},
			wantCode:   exitUsage,
			wantStderr: "error: orders: unknown command \"refund\" (want place, get, list or cancel)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, nil, append([]string{"--orders-addr", addr}, tt.args...)...)
			if got.code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", got.code, tt.wantCode, got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("stdout %q, want nothing", got.stdout)
			}
			gotStderr, _, _ := strings.Cut(got.stderr, "Run 'storefrontctl help'")
			if diff := cmp.Diff(tt.wantStderr, gotStderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
