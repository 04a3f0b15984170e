package main_test

import (
	"encoding/base64"
	"os/exec"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

// TestServesHealthAndTheCannedProduct runs the built binary as the
// benchmarks do and checks both answers it gives.
func TestServesHealthAndTheCannedProduct(t *testing.T) {
	want := &cataloguev1.Product{Id: "0198c2a0-0000-7000-8000-0000000000aa", Sku: "SKU-9", Name: "Canned", Description: "a product of the size the benchmark asks for"}
	raw, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	bin := testenv.BuildBinary(t, "github.com/storefront-go/storefront/tools/perf/bareserver")
	p := testenv.NewProcess(t, "bareserver", bin, map[string]string{"BARE_PRODUCT": base64.StdEncoding.EncodeToString(raw)})
	p.Start()
	conn := testenv.Dial(t, p.GRPCAddr())

	h, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", h, err)
	}
	got, err := cataloguev1.NewCatalogueServiceClient(conn).GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: want.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetProduct(), want) {
		t.Fatalf("product = %v, want %v", got.GetProduct(), want)
	}
}

func TestRefusesABadProduct(t *testing.T) {
	bin := testenv.BuildBinary(t, "github.com/storefront-go/storefront/tools/perf/bareserver")
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Env = []string{"BARE_PRODUCT=not base64!", "GRPC_ADDR=127.0.0.1:0", "HTTP_ADDR=127.0.0.1:0"}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "BARE_PRODUCT") {
		t.Fatalf("exit %v, output %q; want a failure naming BARE_PRODUCT", err, out)
	}
}
