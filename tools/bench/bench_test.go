package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/testenv"
)

// shop is an in-memory catalogue and orders pair that counts what it gets.
type shop struct {
	cataloguev1.UnimplementedCatalogueServiceServer
	ordersv1.UnimplementedOrderServiceServer
	analyticsv1.UnimplementedAnalyticsServiceServer

	mu        sync.Mutex
	gets      int
	searches  int
	keys      map[string]bool
	cancelled map[string]bool
	tokens    map[string]bool
	failEvery int // PlaceOrder fails every failEvery-th call when > 0
	places    int
	events    map[string]bool // TrackEvent ids
	anonymous bool            // every TrackEvent came without a token
}

func newShop() *shop {
	return &shop{keys: map[string]bool{}, cancelled: map[string]bool{}, tokens: map[string]bool{}, events: map[string]bool{}, anonymous: true}
}

func (s *shop) ListProducts(_ *cataloguev1.ListProductsRequest, stream grpc.ServerStreamingServer[cataloguev1.ListProductsResponse]) error {
	return stream.Send(&cataloguev1.ListProductsResponse{Products: []*cataloguev1.Product{
		{Id: "p-1", StockQty: 5}, {Id: "p-empty", StockQty: 0}, {Id: "p-2", StockQty: 9},
	}})
}

func (s *shop) GetProduct(_ context.Context, req *cataloguev1.GetProductRequest) (*cataloguev1.GetProductResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if req.GetProductId() == "p-empty" {
		return nil, status.Error(codes.Internal, "asked for a product out of stock")
	}
	return &cataloguev1.GetProductResponse{Product: &cataloguev1.Product{Id: req.GetProductId()}}, nil
}

func (s *shop) SearchProducts(context.Context, *cataloguev1.SearchProductsRequest) (*cataloguev1.SearchProductsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.searches++
	return &cataloguev1.SearchProductsResponse{}, nil
}

func (s *shop) PlaceOrder(ctx context.Context, req *ordersv1.PlaceOrderRequest) (*ordersv1.PlaceOrderResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range md.Get("authorization") {
		s.tokens[v] = true
	}
	s.places++
	if s.failEvery > 0 && s.places%s.failEvery == 0 {
		return nil, status.Error(codes.Unavailable, "catalogue unavailable")
	}
	if s.keys[req.GetIdempotencyKey()] {
		return nil, status.Errorf(codes.Internal, "key %s used twice", req.GetIdempotencyKey())
	}
	s.keys[req.GetIdempotencyKey()] = true
	return &ordersv1.PlaceOrderResponse{Order: &ordersv1.Order{Id: "order-" + req.GetIdempotencyKey()}}, nil
}

func (s *shop) CancelOrder(_ context.Context, req *ordersv1.CancelOrderRequest) (*ordersv1.CancelOrderResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelled[req.GetOrderId()] = true
	return &ordersv1.CancelOrderResponse{}, nil
}

func (s *shop) TrackEvent(ctx context.Context, req *analyticsv1.TrackEventRequest) (*analyticsv1.TrackEventResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	_, hasDeadline := ctx.Deadline()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(md.Get("authorization")) > 0 {
		s.anonymous = false
	}
	ev := req.GetEvent()
	switch {
	case !hasDeadline:
		return nil, status.Error(codes.Internal, "TrackEvent without a deadline")
	case s.events[ev.GetEventId()]:
		return nil, status.Errorf(codes.Internal, "event %s sent twice", ev.GetEventId())
	case ev.GetProductId() == "p-empty" || ev.GetProductId() == "" || ev.GetOccurredAt() == nil:
		return nil, status.Errorf(codes.InvalidArgument, "event %v", ev)
	}
	s.events[ev.GetEventId()] = true
	return &analyticsv1.TrackEventResponse{EventId: ev.GetEventId()}, nil
}

func (s *shop) serve(t *testing.T) string {
	t.Helper()
	return testenv.ServeGRPC(t, func(srv *grpc.Server) {
		healthpb.RegisterHealthServer(srv, health.NewServer())
		cataloguev1.RegisterCatalogueServiceServer(srv, s)
		ordersv1.RegisterOrderServiceServer(srv, s)
		analyticsv1.RegisterAnalyticsServiceServer(srv, s)
	})
}

func runBench(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

func TestBenchRunsEveryScenario(t *testing.T) {
	t.Parallel()
	s := newShop()
	addr := s.serve(t)
	env := map[string]string{"STOREFRONT_ADDR": addr, "STOREFRONT_ORDERS_ADDR": addr, "STOREFRONT_ANALYTICS_ADDR": addr, "STOREFRONT_TOKEN": "tok"}
	code, stdout, stderr := runBench(t, env, "-n", "103", "-c", "4", "-rounds", "3", "-json")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got []result
	for line := range strings.SplitSeq(strings.TrimSpace(stdout), "\n") {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, r)
	}
	if len(got) != len(allScenarios()) {
		t.Fatalf("%d results, want one per scenario (%v):\n%s", len(got), allScenarios(), stdout)
	}
	for i, r := range got {
		if r.Name != allScenarios()[i] {
			t.Errorf("result %d is %q, want %q", i, r.Name, allScenarios()[i])
		}
		// -n is split over the rounds, remainder included.
		if r.Calls != 103 || r.Errors != 0 {
			t.Errorf("%s: %d calls, %d errors; want 103 and 0", r.Name, r.Calls, r.Errors)
		}
		if r.P50 <= 0 || r.P50 > r.P90 || r.P90 > r.P99 || r.P99 > r.Max {
			t.Errorf("%s: percentiles p50 %s p90 %s p99 %s max %s are not ordered", r.Name, r.P50, r.P90, r.P99, r.Max)
		}
		if r.Throughput <= 0 || r.P50Ratio <= 0 || r.ThroughputRatio <= 0 {
			t.Errorf("%s: throughput %f and ratios %f, %f must be positive", r.Name, r.Throughput, r.P50Ratio, r.ThroughputRatio)
		}
	}
	if got[0].P50Ratio != 1 || got[0].ThroughputRatio != 1 {
		t.Errorf("baseline ratios = %f, %f; want 1 and 1", got[0].P50Ratio, got[0].ThroughputRatio)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Warm-up calls (10 here) come on top of the timed ones.
	if s.gets != 113 || s.searches != 113 || len(s.keys) != 113 || len(s.events) != 113 {
		t.Errorf("server saw %d gets, %d searches, %d orders, %d events; want 113 each", s.gets, s.searches, len(s.keys), len(s.events))
	}
	if !s.anonymous {
		t.Error("TrackEvent carried a token; browsers send none")
	}
	if len(s.cancelled) != len(s.keys) {
		t.Errorf("%d orders cancelled after the run, want all %d", len(s.cancelled), len(s.keys))
	}
	if !s.tokens["Bearer tok"] || len(s.tokens) != 1 {
		t.Errorf("authorization headers %v, want only the token", s.tokens)
	}
}

func TestBenchReportsFailures(t *testing.T) {
	t.Parallel()
	s := newShop()
	s.failEvery = 7
	addr := s.serve(t)
	code, stdout, stderr := runBench(t, nil, "-catalogue", addr, "-orders", addr, "-token", "tok",
		"-scenarios", "place-order", "-n", "70", "-rounds", "2")
	if code != exitError {
		t.Errorf("exit %d, want %d when calls fail", code, exitError)
	}
	if !strings.Contains(stderr, "bench: place-order: ") || !strings.Contains(stderr, "catalogue unavailable") {
		t.Errorf("stderr %q, want the failing scenario and its first error", stderr)
	}
	lines := strings.Split(stdout, "\n")
	if len(lines) < 3 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "health") || !strings.HasPrefix(strings.TrimSpace(lines[2]), "place-order") {
		t.Errorf("report %q, want the baseline then place-order", stdout)
	}
}

func TestBenchSkipsPlaceOrderWithoutToken(t *testing.T) {
	t.Parallel()
	s := newShop()
	addr := s.serve(t)
	code, stdout, stderr := runBench(t, nil, "-catalogue", addr, "-orders", addr, "-analytics", addr, "-n", "20", "-rounds", "2")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "note: place-order skipped: it needs -token") {
		t.Errorf("report %q, want a note about place-order", stdout)
	}
	if strings.Contains(stdout, "\n place-order") || len(s.keys) != 0 {
		t.Errorf("place-order ran without a token (%d orders)", len(s.keys))
	}
}

func TestBenchStopsAtMaxTime(t *testing.T) {
	t.Parallel()
	s := newShop()
	addr := s.serve(t)
	// A million calls would take far longer than the test's timeout; the
	// run ends because -max-time bounds it.
	code, stdout, _ := runBench(t, nil, "-catalogue", addr, "-scenarios", "search", "-n", "1000000", "-c", "2", "-max-time", "300ms")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stdout, "note: stopped early by -max-time 300ms") {
		t.Errorf("report %q, want the early stop noted", stdout)
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"-n", "0"}, want: "bench: -n 0: want 1 to 1000000\n"},
		{args: []string{"-c", "1000"}, want: "bench: -c 1000: want 1 to 256\n"},
		{args: []string{"-n", "3", "-rounds", "4"}, want: "bench: -rounds 4: want 1 to -n\n"},
		{args: []string{"-max-time", "0s"}, want: "bench: -max-time 0s: want a positive duration\n"},
		{args: []string{"-scenarios", "health,refund"}, want: "bench: unknown scenario \"refund\" (want health, get-product, search, place-order, track-event)\n"},
		{args: []string{"extra"}, want: "bench: unexpected argument \"extra\"\n"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runBench(t, nil, tt.args...)
		if code != exitUsage || stdout != "" || stderr != tt.want {
			t.Errorf("bench %v: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
	}
}

func TestBenchNeedsStock(t *testing.T) {
	t.Parallel()
	addr := testenv.ServeGRPC(t, func(srv *grpc.Server) {
		healthpb.RegisterHealthServer(srv, health.NewServer())
		cataloguev1.RegisterCatalogueServiceServer(srv, emptyCatalogue{})
	})
	code, _, stderr := runBench(t, nil, "-catalogue", addr, "-scenarios", "get-product", "-n", "10")
	if code != exitError || !strings.Contains(stderr, "no product in stock: seed the stack first") {
		t.Errorf("exit %d, stderr %q; want 1 and a hint to seed", code, stderr)
	}
}

type emptyCatalogue struct {
	cataloguev1.UnimplementedCatalogueServiceServer
}

func (emptyCatalogue) ListProducts(_ *cataloguev1.ListProductsRequest, stream grpc.ServerStreamingServer[cataloguev1.ListProductsResponse]) error {
	return stream.Send(&cataloguev1.ListProductsResponse{})
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[int]time.Duration{50: 50, 90: 90, 99: 99, 100: 100, 1: 1} {
		if got := percentile(d, p); got != want {
			t.Errorf("percentile(%d) = %d, want %d", p, got, want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %d, want 0", got)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one = %d, want 7", got)
	}
}
