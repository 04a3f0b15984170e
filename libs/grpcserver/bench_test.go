package grpcserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/grpcserver"
	"github.com/storefront-go/storefront/libs/telemetry"
)

// BenchmarkUnaryCall compares one GetProduct through a bare grpc.Server with
// the same call through the full Storefront chain (deadline, metrics, logging,
// recovery, validation, otel stats handler with a no-op tracer). Both run over
// bufconn so the network is out of the picture; read the ratio, not the times.
func BenchmarkUnaryCall(b *testing.B) {
	impl := &catalogue{slowStarted: make(chan struct{}), release: make(chan struct{})}
	req := &cataloguev1.GetProductRequest{ProductId: okID}
	newBare := func(*testing.B) *grpc.Server {
		srv := grpc.NewServer()
		cataloguev1.RegisterCatalogueServiceServer(srv, impl)
		return srv
	}
	newChain := func(b *testing.B) *grpc.Server {
		b.Helper()
		logger := telemetry.NewLogger(io.Discard, slog.LevelInfo, "bench")
		full, err := grpcserver.New(testConfig(), logger, grpcserver.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		cataloguev1.RegisterCatalogueServiceServer(full.GRPC(), impl)
		return full.GRPC()
	}

	for _, tc := range []struct {
		name string
		make func(*testing.B) *grpc.Server
	}{{"bare", newBare}, {"storefront-chain", newChain}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := tc.make(b)
			lis := bufconn.Listen(1 << 20)
			go func() { _ = srv.Serve(lis) }()
			b.Cleanup(srv.Stop)
			conn, err := grpc.NewClient("passthrough:///bufnet",
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = conn.Close() })
			client := cataloguev1.NewCatalogueServiceClient(conn)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.GetProduct(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
