// Package grpcserver runs a service's three ports: gRPC, HTTP (Connect, gRPC-Web
// and gRPC through vanguard, plus /healthz and /readyz) and admin (/metrics,
// optional pprof). Both RPC ports share one grpc.Server, so one implementation
// and one interceptor chain serve every protocol.
package grpcserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/storefront-go/storefront/libs/interceptor"
	"github.com/storefront-go/storefront/libs/telemetry"
)

// NewRegistry returns a Prometheus registry with Go runtime and process metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Option customises a Server.
type Option func(*options)

type options struct {
	unary           []grpc.UnaryServerInterceptor
	stream          []grpc.StreamServerInterceptor
	skipValidation  []string
	grpcServerOpts  []grpc.ServerOption
	readinessChecks map[string]func(context.Context) error
	otelOpts        []otelgrpc.Option
	// errorClassifiers recognise dependencies' errors for the errors
	// interceptor.
	errorClassifiers []func(error) error
}

// WithErrorClassifier lets the errors interceptor recognise errors the kit
// does not type, such as a database that does not answer
// (postgres.Unavailable): classify returns the kit error to answer with, or
// nil.
func WithErrorClassifier(classify func(error) error) Option {
	return func(o *options) { o.errorClassifiers = append(o.errorClassifiers, classify) }
}

// WithTracerProvider sets the provider for server spans instead of the global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) {
		o.otelOpts = append(o.otelOpts, otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(telemetry.Propagator()))
	}
}

// WithInterceptors adds interceptors (authentication, typically) after
// recovery and before validation.
func WithInterceptors(u grpc.UnaryServerInterceptor, s grpc.StreamServerInterceptor) Option {
	return func(o *options) {
		if u != nil {
			o.unary = append(o.unary, u)
		}
		if s != nil {
			o.stream = append(o.stream, s)
		}
	}
}

// WithoutRequestValidation lists methods whose handlers validate streamed
// elements themselves.
func WithoutRequestValidation(fullMethods ...string) Option {
	return func(o *options) { o.skipValidation = append(o.skipValidation, fullMethods...) }
}

// WithReadinessCheck adds a check that /readyz runs; any error makes it fail.
func WithReadinessCheck(name string, check func(context.Context) error) Option {
	return func(o *options) { o.readinessChecks[name] = check }
}

// WithServerOptions appends raw grpc.ServerOptions.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(o *options) { o.grpcServerOpts = append(o.grpcServerOpts, opts...) }
}

// Server is a service's gRPC, HTTP and admin servers.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	reg     *prometheus.Registry
	grpc    *grpc.Server
	health  *health.Server
	metrics *grpcprom.ServerMetrics
	checks  map[string]func(context.Context) error
	tls     *tls.Config // nil: plaintext

	ready     atomic.Bool
	listenMu  sync.Mutex
	listeners [3]net.Listener // grpc, http, admin
}

// New builds the grpc.Server with the full interceptor chain, health and
// reflection. Register services on GRPC() before calling Run.
func New(cfg Config, logger *slog.Logger, reg *prometheus.Registry, opts ...Option) (*Server, error) {
	o := options{readinessChecks: map[string]func(context.Context) error{}}
	for _, opt := range opts {
		opt(&o)
	}
	metrics, err := interceptor.NewServerMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register server metrics: %w", err)
	}
	recovery, err := interceptor.NewRecovery(logger, reg)
	if err != nil {
		return nil, fmt.Errorf("register recovery metrics: %w", err)
	}
	validator, err := interceptor.NewValidator(o.skipValidation...)
	if err != nil {
		return nil, err
	}
	limiter, err := interceptor.NewLimiter(cfg.limits(), reg)
	if err != nil {
		return nil, err
	}

	unary := []grpc.UnaryServerInterceptor{
		interceptor.UnaryDeadline(cfg.DefaultTimeout, cfg.ceilings()),
		metrics.UnaryServerInterceptor(),
		interceptor.UnaryLogging(logger),
		recovery.Unary(),
		interceptor.UnaryErrors(logger, o.errorClassifiers...),
		// Before authentication: a refused call costs no token check.
		limiter.Unary(),
	}
	unary = append(unary, o.unary...)
	unary = append(unary, validator.Unary())
	stream := []grpc.StreamServerInterceptor{
		interceptor.StreamDeadline(cfg.StreamDefaultTimeout, cfg.ceilings()),
		metrics.StreamServerInterceptor(),
		interceptor.StreamLogging(logger),
		recovery.Stream(),
		interceptor.StreamErrors(logger, o.errorClassifiers...),
		limiter.Stream(),
	}
	stream = append(stream, o.stream...)
	stream = append(stream, validator.Stream())

	serverOpts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(o.otelOpts...)),
		grpc.ForceServerCodecV2(grpcCodec{encoding.GetCodecV2(protoCodecName)}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgBytes),
		grpc.MaxSendMsgSize(cfg.MaxSendMsgBytes),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             cfg.KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      cfg.MaxConnectionAge,
			MaxConnectionAgeGrace: cfg.MaxConnectionAgeGrace,
			Time:                  2 * time.Minute,
			Timeout:               20 * time.Second,
		}),
	}
	var tlsCfg *tls.Config
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		tlsCfg, err = serverTLS(cfg)
		if err != nil {
			return nil, err
		}
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	serverOpts = append(serverOpts, o.grpcServerOpts...)

	gs := grpc.NewServer(serverOpts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	if cfg.Reflection {
		reflection.Register(gs)
	}

	return &Server{
		cfg:     cfg,
		logger:  logger,
		reg:     reg,
		grpc:    gs,
		health:  hs,
		metrics: metrics,
		checks:  o.readinessChecks,
		tls:     tlsCfg,
	}, nil
}

// serverTLS builds the TLS settings shared by the gRPC and HTTP ports, so the
// HTTP port can't be a way around the gRPC port's mTLS.
func serverTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load gRPC TLS key pair: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.TLSClientCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read gRPC client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("gRPC client CA file holds no PEM certificates")
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// GRPC returns the server to register service implementations on.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Health returns the health server, for per-service status.
func (s *Server) Health() *health.Server { return s.health }

// Listen binds the three ports. Run calls it when it has not been called;
// tests call it first to learn the ports chosen for ":0".
func (s *Server) Listen() error {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.listeners[0] != nil {
		return nil
	}
	var lc net.ListenConfig
	for i, addr := range []string{s.cfg.GRPCAddr, s.cfg.HTTPAddr, s.cfg.AdminAddr} {
		l, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			for _, prev := range s.listeners[:i] {
				_ = prev.Close()
			}
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		s.listeners[i] = l
	}
	return nil
}

// GRPCAddr is the bound gRPC address (after Listen).
func (s *Server) GRPCAddr() string { return s.addr(0) }

// HTTPAddr is the bound HTTP address (after Listen).
func (s *Server) HTTPAddr() string { return s.addr(1) }

// AdminAddr is the bound admin address (after Listen).
func (s *Server) AdminAddr() string { return s.addr(2) }

func (s *Server) addr(i int) string {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.listeners[i] == nil {
		return ""
	}
	return s.listeners[i].Addr().String()
}

// Run serves until ctx is cancelled, then shuts down in order: health goes
// NOT_SERVING and /readyz fails; after the drain delay the listeners close;
// GracefulStop waits for in-flight RPCs up to ShutdownTimeout, then Stop cuts
// the rest. The caller then drains consumers, flushes the outbox, closes the
// pool and flushes telemetry.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.metrics.InitializeMetrics(s.grpc)

	rpcHandler, err := s.rpcHandler()
	if err != nil {
		return err
	}
	httpMux := http.NewServeMux()
	s.handleProbes(httpMux)
	httpMux.Handle("/", rpcHandler)

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if s.tls != nil {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	httpSrv := s.httpServer(withCORS(s.cfg.CORSAllowedOrigins, httpMux), protocols)
	adminSrv := &http.Server{
		Handler:           s.adminMux(),
		ReadHeaderTimeout: 10 * time.Second,
	}

	s.setServing(true)
	s.logger.InfoContext(ctx, "serving",
		slog.String("grpc", s.GRPCAddr()), slog.String("http", s.HTTPAddr()), slog.String("admin", s.AdminAddr()))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ignoreClosed(s.grpc.Serve(s.listeners[0])) })
	g.Go(func() error {
		if s.tls != nil {
			return ignoreClosed(httpSrv.ServeTLS(s.listeners[1], "", ""))
		}
		return ignoreClosed(httpSrv.Serve(s.listeners[1]))
	})
	g.Go(func() error { return ignoreClosed(adminSrv.Serve(s.listeners[2])) })
	g.Go(func() error {
		<-gctx.Done()
		s.shutdown(httpSrv, adminSrv)
		return nil
	})
	err = g.Wait()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func (s *Server) shutdown(httpSrv, adminSrv *http.Server) {
	// The parent context is gone; shutdown has its own clock.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownDrainDelay+s.cfg.ShutdownTimeout+5*time.Second)
	defer cancel()

	s.logger.InfoContext(ctx, "shutting down: not serving")
	s.setServing(false)
	if s.cfg.ShutdownDrainDelay > 0 {
		time.Sleep(s.cfg.ShutdownDrainDelay)
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		hctx, hcancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer hcancel()
		if err := httpSrv.Shutdown(hctx); err != nil {
			_ = httpSrv.Close()
		}
	})
	wg.Go(func() {
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(s.cfg.ShutdownTimeout):
			s.logger.WarnContext(ctx, "graceful stop timed out; cutting remaining RPCs")
			s.grpc.Stop()
			<-done
		}
	})
	wg.Wait()
	_ = adminSrv.Shutdown(ctx)
	s.logger.InfoContext(ctx, "servers stopped")
}

// setServing flips gRPC health for every registered service and /readyz.
func (s *Server) setServing(serving bool) {
	s.ready.Store(serving)
	if !serving {
		s.health.Shutdown()
		return
	}
	s.health.Resume()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
}

func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	for name, check := range s.checks {
		if err := check(ctx); err != nil {
			s.logger.WarnContext(ctx, "readiness check failed", slog.String("check", name), slog.Any("error", err))
			http.Error(w, name+" not ready", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}

// handleProbes serves /healthz (the process answers) and /readyz (see
// serveReadyz) on mux. Both the HTTP and the admin port have them: the
// admin port stays plaintext when the others serve TLS, so kubelet probes,
// which present no client certificate, still reach them under mTLS.
func (s *Server) handleProbes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReadyz)
}

func (s *Server) adminMux() http.Handler {
	mux := http.NewServeMux()
	s.handleProbes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg, EnableOpenMetrics: true}))
	if s.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// errorLog sends net/http's own complaints (bad requests, TLS handshakes)
// to the service's logger.
func (s *Server) errorLog() *log.Logger { return slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn) }

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
