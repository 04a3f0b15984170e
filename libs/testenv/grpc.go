package testenv

import (
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ServeGRPC starts a plain grpc.Server on a loopback port with what register
// adds to it, and returns its address. The test's cleanup stops the server
// and waits for it. It is for tests of clients (CLIs, load tools) that need a
// real server with services of the test's own; services' own tests use
// grpcserver with its full interceptor chain.
func ServeGRPC(tb testing.TB, register func(*grpc.Server)) string {
	tb.Helper()
	lis, err := (&net.ListenConfig{}).Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen for gRPC: %v", err)
	}
	srv := grpc.NewServer()
	register(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	tb.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// Dial opens a plaintext gRPC client connection to addr, closed when t
// ends.
func Dial(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}
