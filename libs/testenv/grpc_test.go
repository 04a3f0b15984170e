package testenv_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/storefront-go/storefront/libs/testenv"
)

func TestServeGRPC(t *testing.T) {
	t.Parallel()
	hs := health.NewServer()
	hs.SetServingStatus("probe", healthpb.HealthCheckResponse_NOT_SERVING)
	addr := testenv.ServeGRPC(t, func(srv *grpc.Server) { healthpb.RegisterHealthServer(srv, hs) })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "probe"})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	// The registered service answered, with the status set above.
	if resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("status = %v, want NOT_SERVING", resp.GetStatus())
	}
}
