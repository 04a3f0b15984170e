package interceptor

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// LatencyBuckets returns the histogram buckets, in seconds, for RPC latency.
func LatencyBuckets() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// NewServerMetrics registers per-method request, error-code and latency
// metrics (grpc_server_handled_total, grpc_server_handling_seconds, ...) on reg.
func NewServerMetrics(reg prometheus.Registerer) (*grpcprom.ServerMetrics, error) {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(LatencyBuckets())))
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	return m, nil
}
