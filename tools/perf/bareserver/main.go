// Command bareserver is the baseline the benchmarks in tools/perf measure
// the services against: a bare grpc-go server, with no interceptors, no
// database and no broker, that answers the gRPC health check with SERVING
// and CatalogueService.GetProduct with one canned product.
//
// Environment:
//
//	GRPC_ADDR     gRPC listen address (default 127.0.0.1:50061)
//	HTTP_ADDR     serves GET /readyz with 200 once gRPC listens (default 127.0.0.1:8061)
//	BARE_PRODUCT  the canned product, a base64-encoded catalogue.v1.Product
//	              in protobuf binary (default: a small made-up product)
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

func main() {
	if err := run(); err != nil {
		_, _ = fmt.Fprintf(os.Stderr, "bareserver: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	product, err := cannedProduct(os.Getenv("BARE_PRODUCT"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lc := net.ListenConfig{}
	lis, err := lc.Listen(ctx, "tcp", envOr("GRPC_ADDR", "127.0.0.1:50061"))
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer()) // SERVING for ""
	cataloguev1.RegisterCatalogueServiceServer(srv, &catalogue{resp: &cataloguev1.GetProductResponse{Product: product}})

	hlis, err := lc.Listen(ctx, "tcp", envOr("HTTP_ADDR", "127.0.0.1:8061"))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	hsrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hsrv.Serve(hlis) }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.GracefulStop()
	_ = hsrv.Close()
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// cannedProduct decodes BARE_PRODUCT, or makes a small product when it is
// empty.
func cannedProduct(encoded string) (*cataloguev1.Product, error) {
	if encoded == "" {
		return &cataloguev1.Product{Id: "00000000-0000-7000-8000-000000000001", Sku: "BARE-1", Name: "Bare product", StockQty: 1}, nil
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("BARE_PRODUCT: %w", err)
	}
	p := &cataloguev1.Product{}
	if err := proto.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("BARE_PRODUCT: %w", err)
	}
	return p, nil
}

type catalogue struct {
	cataloguev1.UnimplementedCatalogueServiceServer
	resp *cataloguev1.GetProductResponse
}

func (c *catalogue) GetProduct(context.Context, *cataloguev1.GetProductRequest) (*cataloguev1.GetProductResponse, error) {
	return c.resp, nil
}
