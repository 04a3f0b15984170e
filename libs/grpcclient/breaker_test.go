package grpcclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/grpcclient"
)

const (
	stateMetric    = "storefront_client_breaker_state"
	rejectedMetric = "storefront_client_breaker_rejected_total"
	openMessage    = "catalogue: circuit breaker open"
)

// breakerConfig disables retries so that server counts are exact.
func breakerConfig(addr string, openTimeout time.Duration) grpcclient.Config {
	return grpcclient.Config{
		Name:               "catalogue",
		Target:             "dns:///" + addr,
		MaxAttempts:        1,
		BreakerOpenTimeout: openTimeout,
	}
}

func createProduct(ctx context.Context, c cataloguev1.CatalogueServiceClient) error {
	_, err := c.CreateProduct(ctx, &cataloguev1.CreateProductRequest{})
	return err
}

// isRejection reports whether err is the breaker's own fast failure.
func isRejection(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unavailable && s.Message() == openMessage
}

// syncBuffer is a log sink that is safe to read while the breaker writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestBreakerTripsAndRejects(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t)
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	var state grpcclient.BreakerState
	client := dial(t, breakerConfig(addr, time.Hour),
		grpcclient.WithRegisterer(reg),
		grpcclient.WithBreakerState(&state),
		grpcclient.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	// The rejection counter exists at zero before any rejection, so that
	// rate() over it sees the first ones.
	if got := metricValue(t, reg, rejectedMetric, "catalogue"); got != 0 {
		t.Errorf("rejected counter before any rejection = %v, want 0", got)
	}
	srv.failNext(codes.Unavailable, 5)

	for i := range 5 {
		if state.Open() {
			t.Fatalf("breaker state open before call %d", i)
		}
		err := createProduct(t.Context(), client)
		if status.Code(err) != codes.Unavailable || isRejection(err) {
			t.Fatalf("call %d: got %v, want the server's UNAVAILABLE", i, err)
		}
	}
	if !state.Open() {
		t.Errorf("breaker state not open after 5 failures")
	}
	if got := metricValue(t, reg, stateMetric, "catalogue"); got != 2 {
		t.Errorf("state gauge = %v, want 2 (open)", got)
	}

	err := createProduct(t.Context(), client)
	if !isRejection(err) {
		t.Errorf("unary call on open breaker: got %v, want %q", err, openMessage)
	}
	_, err = client.WatchAvailability(t.Context(), &cataloguev1.WatchAvailabilityRequest{})
	if !isRejection(err) {
		t.Errorf("stream open on open breaker: got %v, want %q", err, openMessage)
	}
	if got := srv.calls.Load(); got != 5 {
		t.Errorf("server saw %d calls, want 5: rejected calls must not reach it", got)
	}
	if got := metricValue(t, reg, rejectedMetric, "catalogue"); got != 2 {
		t.Errorf("rejected counter = %v, want 2", got)
	}

	var record struct {
		Msg     string `json:"msg"`
		Breaker string `json:"breaker"`
		From    string `json:"from"`
		To      string `json:"to"`
	}
	line, _, _ := strings.Cut(logs.String(), "\n")
	if err := json.Unmarshal([]byte(line), &record); err != nil {
		t.Fatalf("parse log line %q: %v", line, err)
	}
	want := struct {
		Msg     string `json:"msg"`
		Breaker string `json:"breaker"`
		From    string `json:"from"`
		To      string `json:"to"`
	}{Msg: "circuit breaker state changed", Breaker: "catalogue", From: "closed", To: "open"}
	if diff := cmp.Diff(want, record); diff != "" {
		t.Errorf("state change log (-want +got):\n%s", diff)
	}
}

func TestBreakerHalfOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		probeCode codes.Code
		wantState float64
	}{
		{name: "successful probe closes", probeCode: codes.OK, wantState: 0},
		{name: "not found probe closes", probeCode: codes.NotFound, wantState: 0},
		{name: "failed probe reopens", probeCode: codes.Unavailable, wantState: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, addr := startServer(t)
			reg := prometheus.NewRegistry()
			var state grpcclient.BreakerState
			client := dial(t, breakerConfig(addr, 200*time.Millisecond), grpcclient.WithRegisterer(reg), grpcclient.WithBreakerState(&state))
			srv.failNext(codes.Unavailable, 5)
			for range 5 {
				if err := createProduct(t.Context(), client); status.Code(err) != codes.Unavailable {
					t.Fatalf("tripping call: got %v, want UNAVAILABLE", err)
				}
			}
			if err := createProduct(t.Context(), client); !isRejection(err) {
				t.Fatalf("call on open breaker: got %v, want rejection", err)
			}

			// Hold the probe at the server so the half-open state is observable.
			release := srv.hold()
			t.Cleanup(release)
			if tt.probeCode != codes.OK {
				srv.failNext(tt.probeCode, 1)
			}
			probe := make(chan error, 1)
			go func() {
				// Rejected calls return at once; the first admitted one is the
				// probe and waits for release.
				var err error
				for range int(waitTimeout / (10 * time.Millisecond)) {
					if err = createProduct(t.Context(), client); !isRejection(err) {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				probe <- err
			}()
			waitFor(t, "the probe to reach the server", func() bool { return srv.calls.Load() == 6 })

			if got := metricValue(t, reg, stateMetric, "catalogue"); got != 1 {
				t.Errorf("state gauge during probe = %v, want 1 (half-open)", got)
			}
			if state.Open() {
				t.Errorf("breaker state reports open while half-open: a probe may go through")
			}
			if err := createProduct(t.Context(), client); !isRejection(err) {
				t.Errorf("second call while half-open: got %v, want rejection", err)
			}
			if got := srv.calls.Load(); got != 6 {
				t.Errorf("server saw %d calls, want 6: only one probe may pass", got)
			}

			release()
			select {
			case err := <-probe:
				if got := status.Code(err); got != tt.probeCode {
					t.Errorf("probe: got %v, want code %v", err, tt.probeCode)
				}
			case <-time.After(waitTimeout):
				t.Fatal("probe did not finish")
			}
			if got := metricValue(t, reg, stateMetric, "catalogue"); got != tt.wantState {
				t.Errorf("state gauge after probe = %v, want %v", got, tt.wantState)
			}
			err := createProduct(t.Context(), client)
			if tt.wantState == 0 && err != nil {
				t.Errorf("call after close: %v", err)
			}
			if tt.wantState == 2 && !isRejection(err) {
				t.Errorf("call after reopen: got %v, want rejection", err)
			}
		})
	}
}

func TestBreakerIgnoresPeerAnswers(t *testing.T) {
	t.Parallel()
	for _, code := range []codes.Code{codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.PermissionDenied, codes.Internal} {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			srv, addr := startServer(t)
			reg := prometheus.NewRegistry()
			client := dial(t, breakerConfig(addr, time.Hour), grpcclient.WithRegisterer(reg))
			srv.failNext(code, 10)
			for i := range 10 {
				if err := createProduct(t.Context(), client); status.Code(err) != code {
					t.Fatalf("call %d: got %v, want %v", i, err, code)
				}
			}
			if err := createProduct(t.Context(), client); err != nil {
				t.Errorf("call after %v answers: %v", code, err)
			}
			if got := srv.calls.Load(); got != 11 {
				t.Errorf("server saw %d calls, want 11", got)
			}
			if got := metricValue(t, reg, stateMetric, "catalogue"); got != 0 {
				t.Errorf("state gauge = %v, want 0 (closed)", got)
			}
		})
	}
}

func TestBreakerFailureCodes(t *testing.T) {
	t.Parallel()
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted} {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			srv, addr := startServer(t)
			client := dial(t, breakerConfig(addr, time.Hour))
			srv.failNext(code, 5)
			for range 5 {
				if err := createProduct(t.Context(), client); status.Code(err) != code {
					t.Fatalf("got %v, want %v", err, code)
				}
			}
			if err := createProduct(t.Context(), client); !isRejection(err) {
				t.Errorf("after 5 %v: got %v, want rejection", code, err)
			}
		})
	}
}

func TestBreakerTripsOnlyAboveRatio(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t)
	reg := prometheus.NewRegistry()
	client := dial(t, breakerConfig(addr, time.Hour), grpcclient.WithRegisterer(reg))

	// 3 failures in 5 calls is exactly 60%: not above the ratio.
	srv.failNext(codes.Unavailable, 3)
	var got []codes.Code
	for range 5 {
		got = append(got, status.Code(createProduct(t.Context(), client)))
	}
	want := []codes.Code{codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.OK, codes.OK}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("call codes (-want +got):\n%s", diff)
	}
	if got := metricValue(t, reg, stateMetric, "catalogue"); got != 0 {
		t.Fatalf("state gauge at 3/5 failures = %v, want 0 (closed)", got)
	}
	// 4 in 6 is above it.
	srv.failNext(codes.Unavailable, 1)
	if err := createProduct(t.Context(), client); status.Code(err) != codes.Unavailable {
		t.Fatalf("sixth call: got %v, want UNAVAILABLE", err)
	}
	if got := metricValue(t, reg, stateMetric, "catalogue"); got != 2 {
		t.Errorf("state gauge at 4/6 failures = %v, want 2 (open)", got)
	}
}

func TestBreakerCountsCallerCancelAsSuccess(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t)
	reg := prometheus.NewRegistry()
	client := dial(t, breakerConfig(addr, time.Hour), grpcclient.WithRegisterer(reg))

	release := srv.hold()
	for i := range 5 {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- createProduct(ctx, client) }()
		waitFor(t, "the call to reach the server", func() bool { return srv.calls.Load() == int64(i+1) })
		cancel()
		select {
		case err := <-done:
			if status.Code(err) != codes.Canceled {
				t.Fatalf("cancelled call: got %v, want CANCELED", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("cancelled call did not return")
		}
	}
	release()

	// Five successes and five failures is 50%, below the ratio. Had the
	// cancellations counted as failures (or not at all), this would trip.
	srv.failNext(codes.Unavailable, 5)
	for range 5 {
		if err := createProduct(t.Context(), client); status.Code(err) != codes.Unavailable || isRejection(err) {
			t.Fatalf("got %v, want the server's UNAVAILABLE", err)
		}
	}
	if got := metricValue(t, reg, stateMetric, "catalogue"); got != 0 {
		t.Errorf("state gauge = %v, want 0 (closed)", got)
	}
}

func TestBreakerServerDown(t *testing.T) {
	t.Parallel()
	openStream := func(ctx context.Context, c cataloguev1.CatalogueServiceClient) error {
		_, err := c.WatchAvailability(ctx, &cataloguev1.WatchAvailabilityRequest{})
		return err
	}
	tests := []struct {
		name string
		call func(context.Context, cataloguev1.CatalogueServiceClient) error
	}{
		{name: "unary", call: createProduct},
		{name: "stream open", call: openStream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("listen: %v", err)
			}
			addr := lis.Addr().String()
			if err := lis.Close(); err != nil {
				t.Fatalf("close listener: %v", err)
			}
			reg := prometheus.NewRegistry()
			client := dial(t, breakerConfig(addr, time.Hour), grpcclient.WithRegisterer(reg))

			for i := range 5 {
				err := tt.call(t.Context(), client)
				if status.Code(err) != codes.Unavailable || isRejection(err) {
					t.Fatalf("call %d to a closed port: got %v, want a transport UNAVAILABLE", i, err)
				}
			}
			if err := tt.call(t.Context(), client); !isRejection(err) {
				t.Errorf("after 5 connection failures: got %v, want rejection", err)
			}
			if got := metricValue(t, reg, stateMetric, "catalogue"); got != 2 {
				t.Errorf("state gauge = %v, want 2 (open)", got)
			}
		})
	}
}

func TestMetricsShareRegistry(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t)
	reg := prometheus.NewRegistry()
	for _, name := range []string{"catalogue", "orders", "catalogue"} {
		cfg := breakerConfig(addr, time.Hour)
		cfg.Name = name
		dial(t, cfg, grpcclient.WithRegisterer(reg))
	}
	for _, name := range []string{"catalogue", "orders"} {
		if got := metricValue(t, reg, stateMetric, name); got != 0 {
			t.Errorf("state gauge for %s = %v, want 0", name, got)
		}
	}
}

func TestClientRPCMetrics(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t)
	reg := prometheus.NewRegistry()
	client := dial(t, breakerConfig(addr, time.Hour), grpcclient.WithRegisterer(reg))
	srv.failNext(codes.NotFound, 1)
	for range 3 {
		_, _ = client.GetProduct(t.Context(), &cataloguev1.GetProductRequest{})
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "grpc_client_handled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var method, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "grpc_method":
					method = l.GetValue()
				case "grpc_code":
					code = l.GetValue()
				}
			}
			if method == "GetProduct" {
				got[code] = m.GetCounter().GetValue()
			}
		}
	}
	if got["OK"] != 2 || got["NotFound"] != 1 {
		t.Errorf("grpc_client_handled_total for GetProduct = %v, want OK:2 NotFound:1", got)
	}
}

func TestBreakerCountsOnlyItsOwnDeadline(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t)
	release := srv.hold()
	t.Cleanup(release)

	cfg := breakerConfig(addr, time.Hour)
	cfg.DefaultTimeout = 300 * time.Millisecond
	reg := prometheus.NewRegistry()
	client := dial(t, cfg, grpcclient.WithRegisterer(reg))

	// Callers with their own tighter deadline run out of it: not the peer's fault.
	for range 6 {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		err := createProduct(ctx, client)
		cancel()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("held call with a caller deadline: %v, want DeadlineExceeded", err)
		}
	}
	if got := metricValue(t, reg, stateMetric, "catalogue"); got != 0 {
		t.Fatalf("breaker state after callers' own deadlines = %v, want 0 (closed)", got)
	}

	// Calls bounded by the client's own deadline that time out do count:
	// 12 of 18 calls is above the 60% trip ratio.
	for range 12 {
		err := createProduct(t.Context(), client)
		if isRejection(err) {
			break
		}
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("held call under the default deadline: %v, want DeadlineExceeded", err)
		}
	}
	if got := metricValue(t, reg, stateMetric, "catalogue"); got != 2 {
		t.Errorf("breaker state after the client's own deadlines = %v, want 2 (open)", got)
	}
}

func TestIsBreakerOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "catalogue: circuit breaker open"), true},
		{status.Error(codes.Unavailable, "connection refused"), false},
		{status.Error(codes.Internal, "catalogue: circuit breaker open"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := grpcclient.IsBreakerOpen(tt.err); got != tt.want {
			t.Errorf("IsBreakerOpen(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
