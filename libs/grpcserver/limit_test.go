package grpcserver_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/interceptor"
)

// openWatch opens a health watch stream and waits for its first answer,
// so the server holds it open.
func openWatch(ctx context.Context, t *testing.T, conn *grpc.ClientConn) error {
	t.Helper()
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

// reason returns the ErrorInfo reason of err's status, or "".
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func TestStreamsOverTheMethodLimitAreRefusedAtOnce(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxStreamsPerMethod = 3
	h := start(t, cfg)

	cancels := make([]context.CancelFunc, 0, 3)
	for i := range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		t.Cleanup(cancel)
		cancels = append(cancels, cancel)
		if err := openWatch(ctx, t, h.conn); err != nil {
			t.Fatalf("watch %d within the limit: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := openWatch(ctx, t, h.conn)
	if status.Code(err) != codes.ResourceExhausted || reason(err) != interceptor.ReasonTooManyStreams {
		t.Fatalf("fourth watch: %v (reason %q), want RESOURCE_EXHAUSTED %s", err, reason(err), interceptor.ReasonTooManyStreams)
	}
	// Other methods keep their own budget; unary calls are not streams.
	client := cataloguev1.NewCatalogueServiceClient(h.conn)
	if _, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: okID}); err != nil {
		t.Fatalf("unary call while watches are at their limit: %v", err)
	}
	ws, err := client.WatchAvailability(t.Context(), &cataloguev1.WatchAvailabilityRequest{ProductIds: []string{okID}})
	if err == nil {
		_, err = ws.Recv()
	}
	if err != nil {
		t.Fatalf("another method's stream: %v", err)
	}

	// A slot that frees up is usable again.
	cancels[0]()
	var reopened error
	for range 100 {
		reopened = openWatch(t.Context(), t, h.conn)
		if reopened == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if reopened != nil {
		t.Fatalf("watch after one closed: %v", reopened)
	}
	if got := limited(t, h, "grpc.health.v1.Health", "Watch", "method_streams"); got < 1 {
		t.Errorf("storefront_grpc_server_limited_total{Watch,method_streams} = %v, want >= 1", got)
	}
}

func TestStreamsOverTheReplicaLimitAreRefused(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxStreams = 2
	cfg.MaxStreamsPerMethod = 1
	// The override lifts Watch above the per-method default of 1.
	cfg.MethodStreamLimits = map[string]int{"grpc.health.v1.Health/Watch": 5}
	h := start(t, cfg)

	for i := range 2 {
		if err := openWatch(t.Context(), t, h.conn); err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
	}
	err := openWatch(t.Context(), t, h.conn)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third stream on a replica limited to two: %v", err)
	}
	if got := limited(t, h, "grpc.health.v1.Health", "Watch", "streams"); got != 1 {
		t.Errorf("limited{Watch,streams} = %v, want 1", got)
	}
}

// limited reads storefront_grpc_server_limited_total for one method and limit.
func limited(t *testing.T, h *harness, service, method, limit string) float64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "storefront_grpc_server_limited_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["grpc_service"] == service && labels["grpc_method"] == method && labels["limit"] == limit {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestUnaryCallsOverTheReadLimitAreRefusedAfterTheQueueWait(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxInflightReads = 1
	cfg.MaxInflightWrites = 1
	cfg.InflightQueueWait = 50 * time.Millisecond
	h := start(t, cfg)
	client := cataloguev1.NewCatalogueServiceClient(h.conn)

	slow := make(chan error, 1)
	go func() {
		_, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: slowID})
		slow <- err
	}()
	<-h.impl.slowStarted

	_, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: okID})
	if status.Code(err) != codes.ResourceExhausted || reason(err) != interceptor.ReasonTooManyRequests {
		t.Fatalf("read while the read slot is taken: %v (reason %q), want RESOURCE_EXHAUSTED %s", err, reason(err), interceptor.ReasonTooManyRequests)
	}
	// The same over the HTTP port: Connect maps it to 429.
	hreq, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+h.srv.HTTPAddr()+cataloguev1.CatalogueService_GetProduct_FullMethodName,
		bytes.NewBufferString(`{"productId":"`+okID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("Connect read while the read slot is taken: HTTP %d, want 429", resp.StatusCode)
	}
	// Writes have their own slots: the test server does not implement
	// ReserveStock, so reaching the handler answers UNIMPLEMENTED.
	_, err = client.ReserveStock(t.Context(), &cataloguev1.ReserveStockRequest{
		ReservationId: okID, Items: []*cataloguev1.ReservationItem{{ProductId: okID, Quantity: 1}},
	})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("write while reads are full: %v, want UNIMPLEMENTED from the handler", err)
	}

	close(h.impl.release)
	if err := <-slow; err != nil {
		t.Fatalf("slow read: %v", err)
	}
	if _, err := client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{ProductId: okID}); err != nil {
		t.Fatalf("read after the slot freed: %v", err)
	}
	if got := limited(t, h, "catalogue.v1.CatalogueService", "GetProduct", "reads"); got != 2 {
		t.Errorf("limited{GetProduct,reads} = %v, want 2", got)
	}
}
