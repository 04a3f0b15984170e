package grpcclient

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Option customises Dial.
type Option func(*options)

type options struct {
	idempotent []string
	uncapped   []string
	dialOpts   []grpc.DialOption
	unary      []grpc.UnaryClientInterceptor
	stream     []grpc.StreamClientInterceptor
	logger     *slog.Logger
	registerer prometheus.Registerer
	breaker    *BreakerState
}

// WithIdempotentMethods declares methods, as full names such as
// cataloguev1.CatalogueService_GetProduct_FullMethodName, that are safe to
// retry on UNAVAILABLE. Other methods are never retried.
func WithIdempotentMethods(fullMethodNames ...string) Option {
	return func(o *options) { o.idempotent = append(o.idempotent, fullMethodNames...) }
}

// WithUncappedMethods exempts methods, typically long-lived streams, from the
// DefaultTimeout cap: a longer caller deadline is kept. A call without a
// deadline still gets DefaultTimeout.
func WithUncappedMethods(fullMethodNames ...string) Option {
	return func(o *options) { o.uncapped = append(o.uncapped, fullMethodNames...) }
}

// WithDialOptions appends grpc dial options after the package's own.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// WithUnaryInterceptors adds unary interceptors, such as one that attaches a
// bearer token. They run inside the deadline and outside the breaker, so they
// see the call's deadline and the breaker's rejections.
func WithUnaryInterceptors(interceptors ...grpc.UnaryClientInterceptor) Option {
	return func(o *options) { o.unary = append(o.unary, interceptors...) }
}

// WithStreamInterceptors adds stream interceptors, placed like those of
// WithUnaryInterceptors.
func WithStreamInterceptors(interceptors ...grpc.StreamClientInterceptor) Option {
	return func(o *options) { o.stream = append(o.stream, interceptors...) }
}

// WithLogger sets the logger for breaker state changes; the default discards.
func WithLogger(logger *slog.Logger) Option {
	return func(o *options) { o.logger = logger }
}

// WithRegisterer registers the breaker metrics on reg. Connections may share
// a registry; without one no metrics are recorded.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.registerer = reg }
}

// WithBreakerState makes s report the connection's breaker, so a caller
// can skip work that only makes sense when the peer can be called.
func WithBreakerState(s *BreakerState) Option {
	return func(o *options) { o.breaker = s }
}

// Dial creates a client connection to cfg.Target. Like grpc.NewClient it does
// not connect until the first call. The caller closes the connection.
func Dial(cfg Config, opts ...Option) (*grpc.ClientConn, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("grpc client %s config: %w", cfg.Name, err)
	}
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}

	sc, err := buildServiceConfig(cfg.MaxAttempts, o.idempotent)
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: %w", cfg.Name, err)
	}
	uncapped, err := methodSet(o.uncapped)
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: %w", cfg.Name, err)
	}
	creds, err := transportCredentials(cfg)
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: %w", cfg.Name, err)
	}
	m, err := newMetrics(o.registerer)
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: %w", cfg.Name, err)
	}

	dl := deadlines{timeout: cfg.DefaultTimeout, uncapped: uncapped}
	br := newBreaker(cfg, o.logger, m)
	if o.breaker != nil {
		o.breaker.br.Store(br)
	}
	unary := []grpc.UnaryClientInterceptor{dl.unary()}
	stream := []grpc.StreamClientInterceptor{dl.stream()}
	if m != nil {
		unary = append(unary, m.rpc.UnaryClientInterceptor())
		stream = append(stream, m.rpc.StreamClientInterceptor())
	}
	unary = append(unary, o.unary...)
	unary = append(unary, br.unary())
	stream = append(stream, o.stream...)
	stream = append(stream, br.stream())

	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// The resolver's config (DNS TXT) must not replace the retry policy.
		grpc.WithDisableServiceConfig(),
		grpc.WithDefaultServiceConfig(sc),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    cfg.KeepaliveTime,
			Timeout: cfg.KeepaliveTimeout,
			// Idle pings would violate the servers' enforcement policy.
			PermitWithoutStream: false,
		}),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(stream...),
	}
	dialOpts = append(dialOpts, o.dialOpts...)

	conn, err := grpc.NewClient(cfg.Target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: new client for %s: %w", cfg.Name, cfg.Target, err)
	}
	return conn, nil
}
