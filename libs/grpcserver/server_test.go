package grpcserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/apperr"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/gen/catalogue/v1/cataloguev1connect"
	"github.com/storefront-go/storefront/libs/grpcserver"
	"github.com/storefront-go/storefront/libs/telemetry"
)

const (
	okID    = "0193a3c4-1111-7000-8000-000000000001"
	panicID = "0193a3c4-2222-7000-8000-000000000002"
	slowID  = "0193a3c4-3333-7000-8000-000000000003"
	// failID fails with an error the kit does not know; goneID with a
	// kit NOT_FOUND.
	failID = "0193a3c4-4444-7000-8000-000000000004"
	goneID = "0193a3c4-5555-7000-8000-000000000005"
)

// catalogue is a test implementation that behaves on command.
type catalogue struct {
	cataloguev1.UnimplementedCatalogueServiceServer
	slowStarted chan struct{}
	release     chan struct{}

	mu          sync.Mutex
	sawDeadline time.Duration
}

func (c *catalogue) GetProduct(ctx context.Context, req *cataloguev1.GetProductRequest) (*cataloguev1.GetProductResponse, error) {
	if dl, ok := ctx.Deadline(); ok {
		c.mu.Lock()
		c.sawDeadline = time.Until(dl)
		c.mu.Unlock()
	}
	switch req.GetProductId() {
	case panicID:
		panic("boom")
	case slowID:
		close(c.slowStarted)
		<-c.release
	case failID:
		return nil, fmt.Errorf("get product %s: %w", failID, errors.New("SQLSTATE 42P01"))
	case goneID:
		return nil, fmt.Errorf("get product %s: %w", goneID, apperr.NotFound("product "+goneID+" not found"))
	}
	return &cataloguev1.GetProductResponse{Product: &cataloguev1.Product{Id: req.GetProductId(), Name: "Lamp"}}, nil
}

func (c *catalogue) WatchAvailability(req *cataloguev1.WatchAvailabilityRequest, stream grpc.ServerStreamingServer[cataloguev1.WatchAvailabilityResponse]) error {
	for _, id := range req.GetProductIds() {
		if err := stream.Send(&cataloguev1.WatchAvailabilityResponse{ProductId: id, Available: 7}); err != nil {
			return err
		}
	}
	return nil
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
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

type harness struct {
	srv   *grpcserver.Server
	impl  *catalogue
	logs  *syncBuffer
	reg   *prometheus.Registry
	conn  *grpc.ClientConn
	stop  context.CancelFunc
	done  chan error
	spans trace.TracerProvider
}

func testConfig() grpcserver.Config {
	return grpcserver.Config{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		MaxRecvMsgBytes: 1 << 20, MaxSendMsgBytes: 1 << 20, MaxConcurrentStreams: 100,
		MaxConnectionAge: time.Hour, MaxConnectionAgeGrace: time.Minute, KeepaliveMinTime: 10 * time.Second,
		DefaultTimeout: 3 * time.Second, ShutdownTimeout: 5 * time.Second,
	}
}

func start(t *testing.T, cfg grpcserver.Config) *harness {
	t.Helper()
	logs := &syncBuffer{}
	logger := telemetry.NewLogger(logs, slog.LevelInfo, "test")
	reg := grpcserver.NewRegistry()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	srv, err := grpcserver.New(cfg, logger, reg, grpcserver.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	impl := &catalogue{slowStarted: make(chan struct{}), release: make(chan struct{})}
	cataloguev1.RegisterCatalogueServiceServer(srv.GRPC(), impl)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
	})
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	h := &harness{srv: srv, impl: impl, logs: logs, reg: reg, conn: conn, stop: cancel, done: done, spans: tp}
	waitServing(t, h)
	return h
}

func waitServing(t *testing.T, h *harness) {
	t.Helper()
	client := healthpb.NewHealthClient(h.conn)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("server never became SERVING")
}

func handled(t *testing.T, reg *prometheus.Registry, method, code string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "grpc_server_handled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["grpc_method"] == method && labels["grpc_code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestUnaryCallIsLoggedOnceWithTraceAndCounted(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	client := cataloguev1.NewCatalogueServiceClient(h.conn)

	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: okID})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetProduct().GetName() != "Lamp" {
		t.Errorf("name = %q", resp.GetProduct().GetName())
	}
	if got := handled(t, h.reg, "GetProduct", "OK"); got != 1 {
		t.Errorf("grpc_server_handled_total{GetProduct,OK} = %v, want 1", got)
	}
	var rpcLines []map[string]any
	for _, l := range h.logs.lines(t) {
		if l["grpc.method"] == "GetProduct" {
			rpcLines = append(rpcLines, l)
		}
	}
	if len(rpcLines) != 1 {
		t.Fatalf("got %d log lines for GetProduct, want 1", len(rpcLines))
	}
	line := rpcLines[0]
	if line["trace_id"] != traceID {
		t.Errorf("trace_id = %v, want %s", line["trace_id"], traceID)
	}
	if line["grpc.code"] != "OK" {
		t.Errorf("grpc.code = %v", line["grpc.code"])
	}
	for _, key := range []string{"grpc.duration", "peer.address", "span_id"} {
		if _, ok := line[key]; !ok {
			t.Errorf("log line lacks %s: %v", key, line)
		}
	}
}

func TestPanicBecomesInternalAndServerKeepsServing(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	client := cataloguev1.NewCatalogueServiceClient(h.conn)

	_, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: panicID})
	if status.Code(err) != codes.Internal {
		t.Fatalf("code = %v, want Internal", status.Code(err))
	}
	if msg := status.Convert(err).Message(); strings.Contains(msg, "boom") || strings.Contains(msg, "goroutine") {
		t.Errorf("panic details leaked to caller: %q", msg)
	}
	if _, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: okID}); err != nil {
		t.Errorf("call after panic: %v", err)
	}
	if got := testutil.ToFloat64(mustCounter(t, h.reg, "storefront_grpc_server_panics_total")); got != 1 {
		t.Errorf("panics counter = %v, want 1", got)
	}
	found := false
	for _, l := range h.logs.lines(t) {
		if stack, _ := l["stack"].(string); l["msg"] == "handler panic" && strings.Contains(stack, "GetProduct") {
			found = true
		}
	}
	if !found {
		t.Error("no panic log line with a stack")
	}
}

// The errors interceptor sits inside logging and metrics, so they record
// the code the caller gets, not the UNKNOWN of a raw error.
func TestHandlerErrorsAreMappedBeforeLoggingAndMetrics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id       string
		wantCode codes.Code
		wantMsg  string
		// wantFailed is how many "request failed" lines to expect.
		wantFailed int
	}{
		{id: failID, wantCode: codes.Internal, wantMsg: "internal error", wantFailed: 1},
		{id: goneID, wantCode: codes.NotFound, wantMsg: "product " + goneID + " not found"},
	}
	for _, tt := range tests {
		t.Run(tt.wantCode.String(), func(t *testing.T) {
			t.Parallel()
			h := start(t, testConfig())
			client := cataloguev1.NewCatalogueServiceClient(h.conn)
			traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
			ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")

			_, err := client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: tt.id})
			if st := status.Convert(err); st.Code() != tt.wantCode || st.Message() != tt.wantMsg {
				t.Fatalf("status = %v %q, want %v %q", st.Code(), st.Message(), tt.wantCode, tt.wantMsg)
			}
			if got := handled(t, h.reg, "GetProduct", tt.wantCode.String()); got != 1 {
				t.Errorf("grpc_server_handled_total{GetProduct,%v} = %v, want 1", tt.wantCode, got)
			}
			var rpcCodes []any
			failed := 0
			for _, l := range h.logs.lines(t) {
				if l["grpc.method"] == "GetProduct" {
					rpcCodes = append(rpcCodes, l["grpc.code"])
				}
				if l["msg"] == "request failed" {
					failed++
					if l["method"] != cataloguev1.CatalogueService_GetProduct_FullMethodName || l["trace_id"] != traceID {
						t.Errorf("request failed line = %v, want the full method and trace_id %s", l, traceID)
					}
				}
			}
			if diff := cmp.Diff([]any{tt.wantCode.String()}, rpcCodes); diff != "" {
				t.Errorf("codes logged for GetProduct (-want +got):\n%s", diff)
			}
			if failed != tt.wantFailed {
				t.Errorf("%d request failed lines, want %d", failed, tt.wantFailed)
			}
		})
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
			c.Add(f.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("metric %s not found", name)
	return nil
}

func TestInvalidRequestsGetFieldViolations(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	client := cataloguev1.NewCatalogueServiceClient(h.conn)

	tests := []struct {
		name   string
		call   func() error
		fields []string
	}{
		{
			name: "unary bad uuid",
			call: func() error {
				_, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: "not-a-uuid"})
				return err
			},
			fields: []string{"product_id"},
		},
		{
			name: "several violations",
			call: func() error {
				_, err := client.CreateProduct(t.Context(), &cataloguev1.CreateProductRequest{Sku: "bad sku", Name: "", CategoryId: "Bad!", StockQty: -1})
				return err
			},
			fields: []string{"category_id", "name", "price", "sku", "stock_qty"},
		},
		{
			name: "message rule",
			call: func() error {
				lo, hi := int64(500), int64(100)
				_, err := client.SearchProducts(t.Context(), &cataloguev1.SearchProductsRequest{MinPriceMinor: &lo, MaxPriceMinor: &hi})
				return err
			},
			fields: []string{"(request)"},
		},
		{
			name: "server stream request",
			call: func() error {
				stream, err := client.WatchAvailability(t.Context(), &cataloguev1.WatchAvailabilityRequest{})
				if err != nil {
					return err
				}
				_, err = stream.Recv()
				return err
			},
			fields: []string{"product_ids"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %v, want InvalidArgument (%v)", st.Code(), err)
			}
			var got []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						got = append(got, v.GetField())
					}
				}
			}
			slicesSort(got)
			if diff := cmp.Diff(tt.fields, got); diff != "" {
				t.Errorf("violated fields (-want +got):\n%s", diff)
			}
		})
	}
}

func slicesSort(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestDefaultDeadlineApplied(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	client := cataloguev1.NewCatalogueServiceClient(h.conn)
	if _, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: okID}); err != nil {
		t.Fatal(err)
	}
	h.impl.mu.Lock()
	saw := h.impl.sawDeadline
	h.impl.mu.Unlock()
	if saw <= 0 || saw > 3*time.Second {
		t.Errorf("handler saw deadline in %v, want within the 3s default", saw)
	}
}

func TestHTTPPortServesConnectGRPCWebAndProbes(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	base := "http://" + h.srv.HTTPAddr()

	for _, tc := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect json", []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect proto", nil},
		{"connect get", []connect.ClientOption{connect.WithHTTPGet(), connect.WithProtoJSON()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := cataloguev1connect.NewCatalogueServiceClient(http.DefaultClient, base, tc.opts...)
			resp, err := client.GetProduct(t.Context(), connect.NewRequest(&cataloguev1.GetProductRequest{ProductId: okID}))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Msg.GetProduct().GetId() != okID {
				t.Errorf("id = %q", resp.Msg.GetProduct().GetId())
			}
			_, err = client.GetProduct(t.Context(), connect.NewRequest(&cataloguev1.GetProductRequest{ProductId: "x"}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("bad request code = %v, want invalid_argument", connect.CodeOf(err))
			}
		})
	}

	t.Run("curl-style json post", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/catalogue.v1.CatalogueService/GetProduct",
			strings.NewReader(`{"productId":"`+okID+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		// The header is optional (see TestHTTPPortServesConnectWithoutProtocolHeader) but still accepted.
		req.Header.Set("Connect-Protocol-Version", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name":"Lamp"`) {
			t.Errorf("status %d body %s", resp.StatusCode, body)
		}
	})

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path) //nolint:noctx // test probe
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d", path, resp.StatusCode)
		}
	}

	resp, err := http.Get("http://" + h.srv.AdminAddr() + "/metrics") //nolint:noctx // test probe
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"grpc_server_handled_total", "go_goroutines", "grpc_server_handling_seconds_bucket"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.ShutdownDrainDelay = 300 * time.Millisecond
	h := start(t, cfg)
	client := cataloguev1.NewCatalogueServiceClient(h.conn)

	watchCtx, cancelWatch := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancelWatch()
	watch, err := healthpb.NewHealthClient(h.conn).Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health = %v, %v", first.GetStatus(), err)
	}

	inflight := make(chan error, 1)
	go func() {
		_, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: slowID})
		inflight <- err
	}()
	select {
	case <-h.impl.slowStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("slow RPC never reached the handler")
	}

	h.stop()

	// Health flips before anything else stops.
	next, err := watch.Recv()
	if err != nil {
		t.Fatalf("health watch: %v", err)
	}
	if next.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health = %v, want NOT_SERVING", next.GetStatus())
	}
	for _, addr := range []string{h.srv.HTTPAddr(), h.srv.AdminAddr()} {
		resp, err := http.Get("http://" + addr + "/readyz") //nolint:noctx // test probe
		if err != nil {
			t.Fatalf("readyz during drain: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s/readyz during drain = %d, want 503", addr, resp.StatusCode)
		}
	}

	// The in-flight call still completes.
	close(h.impl.release)
	select {
	case err := <-inflight:
		if err != nil {
			t.Errorf("in-flight RPC failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight RPC never completed")
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
		h.done <- nil // let cleanup see it
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	// New calls are refused once stopped.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = client.GetProduct(ctx, &cataloguev1.GetProductRequest{ProductId: okID})
	if err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("call after shutdown = %v, want an error", err)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	h := start(t, testConfig())
	if err := grpcserver.Healthcheck(t.Context(), h.srv.HTTPAddr()); err != nil {
		t.Errorf("Healthcheck on a serving server: %v", err)
	}
	if err := grpcserver.Healthcheck(t.Context(), "127.0.0.1:1"); err == nil {
		t.Error("Healthcheck on a closed port succeeded")
	}
	if err := grpcserver.Healthcheck(t.Context(), "no-port"); err == nil {
		t.Error("Healthcheck with a bad address succeeded")
	}
}
