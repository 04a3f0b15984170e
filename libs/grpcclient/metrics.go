package grpcclient

import (
	"fmt"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/storefront-go/storefront/libs/interceptor"

	"github.com/storefront-go/storefront/libs/telemetry"
)

// metrics exports breaker state. A nil *metrics records nothing, so Dial
// works without a registerer.
type metrics struct {
	state    *prometheus.GaugeVec
	rejected *prometheus.CounterVec
	// rpc counts calls, codes and latency per method (grpc_client_*).
	rpc *grpcprom.ClientMetrics
}

// newMetrics registers the collectors on reg, reusing ones already there so
// that several connections can share one registry.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	state := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "storefront_client_breaker_state",
		Help: "Circuit breaker state per client target: 0 closed, 1 half-open, 2 open.",
	}, []string{"target"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storefront_client_breaker_rejected_total",
		Help: "Calls rejected by an open or half-open circuit breaker, per client target.",
	}, []string{"target"})
	rpc := grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(interceptor.LatencyBuckets()),
	))
	var err error
	if rpc, err = telemetry.RegisterOrExisting(reg, rpc); err != nil {
		return nil, fmt.Errorf("register client metrics: %w", err)
	}
	if state, err = telemetry.RegisterOrExisting(reg, state); err != nil {
		return nil, fmt.Errorf("register client metrics: %w", err)
	}
	if rejected, err = telemetry.RegisterOrExisting(reg, rejected); err != nil {
		return nil, fmt.Errorf("register client metrics: %w", err)
	}
	return &metrics{state: state, rejected: rejected, rpc: rpc}, nil
}

// setState records a breaker's state. It also creates the target's
// rejection counter at zero, so that rate() and increase() see the first
// rejections instead of a series that appears with them.
func (m *metrics) setState(target string, s gobreaker.State) {
	if m == nil {
		return
	}
	m.state.WithLabelValues(target).Set(stateValue(s))
	m.rejected.WithLabelValues(target)
}

// stateValue maps a breaker state to the documented gauge value.
func stateValue(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateClosed:
		return 0
	case gobreaker.StateHalfOpen:
		return 1
	default:
		return 2
	}
}

func (m *metrics) countRejected(target string) {
	if m == nil {
		return
	}
	m.rejected.WithLabelValues(target).Inc()
}
