package grpcclient_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/grpcclient"
)

func TestRetries(t *testing.T) {
	t.Parallel()
	getProduct := func(ctx context.Context, c cataloguev1.CatalogueServiceClient) error {
		_, err := c.GetProduct(ctx, &cataloguev1.GetProductRequest{})
		return err
	}
	createProduct := func(ctx context.Context, c cataloguev1.CatalogueServiceClient) error {
		_, err := c.CreateProduct(ctx, &cataloguev1.CreateProductRequest{})
		return err
	}
	tests := []struct {
		name        string
		maxAttempts int
		call        func(context.Context, cataloguev1.CatalogueServiceClient) error
		failCode    codes.Code
		failures    int
		wantCalls   int64
		wantCode    codes.Code
	}{
		{name: "idempotent unavailable once is retried", call: getProduct, failCode: codes.Unavailable, failures: 1, wantCalls: 2, wantCode: codes.OK},
		{name: "idempotent unavailable twice is retried", call: getProduct, failCode: codes.Unavailable, failures: 2, wantCalls: 3, wantCode: codes.OK},
		{name: "idempotent retries stop at max attempts", call: getProduct, failCode: codes.Unavailable, failures: 5, wantCalls: 3, wantCode: codes.Unavailable},
		{name: "idempotent invalid argument is not retried", call: getProduct, failCode: codes.InvalidArgument, failures: 1, wantCalls: 1, wantCode: codes.InvalidArgument},
		{name: "idempotent internal is not retried", call: getProduct, failCode: codes.Internal, failures: 1, wantCalls: 1, wantCode: codes.Internal},
		{name: "non-idempotent unavailable is not retried", call: createProduct, failCode: codes.Unavailable, failures: 1, wantCalls: 1, wantCode: codes.Unavailable},
		{name: "max attempts 1 disables retries", maxAttempts: 1, call: getProduct, failCode: codes.Unavailable, failures: 1, wantCalls: 1, wantCode: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, addr := startServer(t)
			client := dial(t, grpcclient.Config{
				Name:        "catalogue",
				Target:      "dns:///" + addr,
				MaxAttempts: tt.maxAttempts,
			}, grpcclient.WithIdempotentMethods(cataloguev1.CatalogueService_GetProduct_FullMethodName))
			srv.failNext(tt.failCode, tt.failures)

			err := tt.call(t.Context(), client)

			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code = %v, want %v (err %v)", got, tt.wantCode, err)
			}
			if got := srv.calls.Load(); got != tt.wantCalls {
				t.Errorf("server saw %d attempts, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestExtraInterceptorsRun(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t)
	var unaryMethods []string
	var streamMethods []string
	client := dial(t, grpcclient.Config{Name: "catalogue", Target: "dns:///" + addr},
		grpcclient.WithUnaryInterceptors(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			unaryMethods = append(unaryMethods, method)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpcclient.WithStreamInterceptors(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			streamMethods = append(streamMethods, method)
			return streamer(ctx, desc, cc, method, opts...)
		}),
	)

	if _, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{}); err != nil {
		t.Fatalf("GetProduct: %v", err)
	}
	stream, err := client.WatchAvailability(t.Context(), &cataloguev1.WatchAvailabilityRequest{})
	if err != nil {
		t.Fatalf("WatchAvailability: %v", err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("Recv: %v", err)
	}

	if diff := cmp.Diff([]string{cataloguev1.CatalogueService_GetProduct_FullMethodName}, unaryMethods); diff != "" {
		t.Errorf("unary interceptor methods (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{cataloguev1.CatalogueService_WatchAvailability_FullMethodName}, streamMethods); diff != "" {
		t.Errorf("stream interceptor methods (-want +got):\n%s", diff)
	}
}
