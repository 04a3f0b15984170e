package grpcclient_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/grpcclient"
)

// waitTimeout bounds every wait in these tests; it only guards against hangs.
const waitTimeout = 10 * time.Second

// catalogue is a CatalogueService that fails on command and counts calls.
type catalogue struct {
	cataloguev1.UnimplementedCatalogueServiceServer

	calls atomic.Int64

	mu       sync.Mutex
	failCode codes.Code
	failLeft int
	gate     chan struct{} // when set, handlers wait for it to close
	deadline time.Duration // remaining time of the last call's deadline
	hasDL    bool
}

// failNext makes the next n calls return code.
func (s *catalogue) failNext(code codes.Code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failLeft = code, n
}

// hold makes calls block until the returned release is called or the call's
// context ends.
func (s *catalogue) hold() (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	return sync.OnceFunc(func() {
		s.mu.Lock()
		s.gate = nil
		s.mu.Unlock()
		close(gate)
	})
}

// lastDeadline returns the remaining deadline the last call observed.
func (s *catalogue) lastDeadline() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline, s.hasDL
}

func (s *catalogue) handle(ctx context.Context) error {
	s.calls.Add(1)
	s.mu.Lock()
	dl, ok := ctx.Deadline()
	s.deadline, s.hasDL = time.Until(dl), ok
	gate := s.gate
	var err error
	if s.failLeft > 0 {
		s.failLeft--
		err = status.Error(s.failCode, "injected failure")
	}
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	return err
}

func (s *catalogue) GetProduct(ctx context.Context, _ *cataloguev1.GetProductRequest) (*cataloguev1.GetProductResponse, error) {
	if err := s.handle(ctx); err != nil {
		return nil, err
	}
	return &cataloguev1.GetProductResponse{}, nil
}

func (s *catalogue) CreateProduct(ctx context.Context, _ *cataloguev1.CreateProductRequest) (*cataloguev1.CreateProductResponse, error) {
	if err := s.handle(ctx); err != nil {
		return nil, err
	}
	return &cataloguev1.CreateProductResponse{}, nil
}

func (s *catalogue) WatchAvailability(_ *cataloguev1.WatchAvailabilityRequest, stream grpc.ServerStreamingServer[cataloguev1.WatchAvailabilityResponse]) error {
	if err := s.handle(stream.Context()); err != nil {
		return err
	}
	return stream.Send(&cataloguev1.WatchAvailabilityResponse{})
}

// startServer serves a catalogue on a loopback port until the test ends.
func startServer(t *testing.T, opts ...grpc.ServerOption) (*catalogue, string) {
	t.Helper()
	lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(opts...)
	svc := &catalogue{}
	cataloguev1.RegisterCatalogueServiceServer(srv, svc)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	return svc, lis.Addr().String()
}

// dial connects a catalogue client to addr and closes it when the test ends.
func dial(t *testing.T, cfg grpcclient.Config, opts ...grpcclient.Option) cataloguev1.CatalogueServiceClient {
	t.Helper()
	conn, err := grpcclient.Dial(cfg, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Errorf("close conn: %v", err)
		}
	})
	return cataloguev1.NewCatalogueServiceClient(conn)
}

// metricValue reads one series of a gauge or counter from reg.
func metricValue(t *testing.T, reg prometheus.Gatherer, name, target string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "target" && l.GetValue() == target {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{target=%q} not found", name, target)
	return 0
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	const step = 5 * time.Millisecond
	deadline := time.Now().Add(waitTimeout)
	for range int(waitTimeout / step) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(step)
	}
	t.Fatalf("timed out waiting for %s", what)
}
