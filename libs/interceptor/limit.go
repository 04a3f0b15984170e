package interceptor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"

	"github.com/storefront-go/storefront/libs/apperr"
)

// Limits bound how much work callers can start at once on one replica, so
// that a flood of one kind of call (watchers, list streams, searches)
// cannot take the goroutines, memory and database connections that other
// calls need. Zero means no limit.
type Limits struct {
	// Streams bounds the streams open at once, over every method.
	Streams int
	// StreamsPerMethod bounds the streams of any one method open at once.
	StreamsPerMethod int
	// MethodStreams overrides StreamsPerMethod for single methods, keyed by
	// full method name with or without the leading slash
	// ("catalogue.v1.CatalogueService/WatchAvailability").
	MethodStreams map[string]int
	// Reads bounds the unary NO_SIDE_EFFECTS calls in flight, Writes every
	// other unary call: a flood of reads then cannot crowd out writes.
	Reads  int
	Writes int
	// QueueWait is how long a unary call waits for a free slot before it
	// is refused; streams are refused at once.
	QueueWait time.Duration
}

// Reasons in the ErrorInfo of a refused call.
const (
	ReasonTooManyStreams  = "TOO_MANY_STREAMS"
	ReasonTooManyRequests = "TOO_MANY_REQUESTS"
)

// Limiter enforces Limits. Calls over a limit get RESOURCE_EXHAUSTED with
// an ErrorInfo reason, counted in storefront_grpc_server_limited_total.
type Limiter struct {
	limits  Limits
	reads   *semaphore.Weighted
	writes  *semaphore.Weighted
	limited *prometheus.CounterVec
	open    *prometheus.GaugeVec

	mu        sync.Mutex
	streams   int
	perMethod map[string]int
	// readOnly caches each unary method's class.
	readOnly sync.Map // full method -> bool
}

// NewLimiter builds a Limiter and registers its metrics on reg.
func NewLimiter(l Limits, reg prometheus.Registerer) (*Limiter, error) {
	for _, n := range []int{l.Streams, l.StreamsPerMethod, l.Reads, l.Writes} {
		if n < 0 {
			return nil, fmt.Errorf("limits must not be negative: %+v", l)
		}
	}
	lim := &Limiter{
		limits:    l,
		perMethod: map[string]int{},
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storefront_grpc_server_limited_total",
			Help: "Calls refused with RESOURCE_EXHAUSTED because a concurrency limit was reached, by method and limit (streams, method_streams, reads, writes).",
		}, []string{"grpc_service", "grpc_method", "limit"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "storefront_grpc_server_in_flight",
			Help: "Calls in flight by class (streams, reads, writes).",
		}, []string{"class"}),
	}
	methodStreams := make(map[string]int, len(l.MethodStreams))
	for m, n := range l.MethodStreams {
		if n < 0 {
			return nil, fmt.Errorf("stream limit of %s must not be negative", m)
		}
		methodStreams["/"+strings.TrimPrefix(m, "/")] = n
	}
	lim.limits.MethodStreams = methodStreams
	if l.Reads > 0 {
		lim.reads = semaphore.NewWeighted(int64(l.Reads))
	}
	if l.Writes > 0 {
		lim.writes = semaphore.NewWeighted(int64(l.Writes))
	}
	for _, c := range []prometheus.Collector{lim.limited, lim.open} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register limiter metrics: %w", err)
		}
	}
	for _, class := range []string{"streams", "reads", "writes"} {
		lim.open.WithLabelValues(class)
	}
	return lim, nil
}

// Unary limits the unary calls in flight per class, waiting up to
// QueueWait for a slot.
func (l *Limiter) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		sem, class := l.writes, "writes"
		if l.isRead(info.FullMethod) {
			sem, class = l.reads, "reads"
		}
		if sem == nil {
			return handler(ctx, req)
		}
		if !sem.TryAcquire(1) {
			if err := l.wait(ctx, sem); err != nil {
				l.limited.WithLabelValues(append(splitMethod(info.FullMethod), class)...).Inc()
				return nil, apperr.ResourceExhausted("server busy: too many " + class + " in flight; retry with backoff").
					WithReason(ReasonTooManyRequests)
			}
		}
		gauge := l.open.WithLabelValues(class)
		gauge.Inc()
		defer func() {
			gauge.Dec()
			sem.Release(1)
		}()
		return handler(ctx, req)
	}
}

// wait waits for a slot for at most QueueWait, or until ctx is done.
func (l *Limiter) wait(ctx context.Context, sem *semaphore.Weighted) error {
	if l.limits.QueueWait <= 0 {
		return context.DeadlineExceeded
	}
	ctx, cancel := context.WithTimeout(ctx, l.limits.QueueWait)
	defer cancel()
	return sem.Acquire(ctx, 1) //nolint:wrapcheck // only its being nil matters
}

// Stream refuses a stream at once when the replica or its method already
// has as many open as allowed.
func (l *Limiter) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if limit := l.acquireStream(info.FullMethod); limit != "" {
			l.limited.WithLabelValues(append(splitMethod(info.FullMethod), limit)...).Inc()
			return apperr.ResourceExhausted("server busy: too many open streams; retry with backoff").
				WithReason(ReasonTooManyStreams)
		}
		defer l.releaseStream(info.FullMethod)
		return handler(srv, ss)
	}
}

// acquireStream takes a stream slot and returns "", or the name of the
// limit that is reached.
func (l *Limiter) acquireStream(method string) string {
	perMethod, ok := l.limits.MethodStreams[method]
	if !ok {
		perMethod = l.limits.StreamsPerMethod
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.limits.Streams > 0 && l.streams >= l.limits.Streams:
		return "streams"
	case perMethod > 0 && l.perMethod[method] >= perMethod:
		return "method_streams"
	}
	l.streams++
	l.perMethod[method]++
	l.open.WithLabelValues("streams").Inc()
	return ""
}

func (l *Limiter) releaseStream(method string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.streams--
	l.perMethod[method]--
	if l.perMethod[method] == 0 {
		delete(l.perMethod, method)
	}
	l.open.WithLabelValues("streams").Dec()
}

func (l *Limiter) isRead(method string) bool {
	if v, ok := l.readOnly.Load(method); ok {
		b, _ := v.(bool)
		return b
	}
	b := readOnly(method)
	l.readOnly.Store(method, b)
	return b
}

// splitMethod splits "/pkg.Service/Method" into the service and method
// labels the gRPC metrics use.
func splitMethod(fullMethod string) []string {
	svc, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return []string{svc, method}
}
