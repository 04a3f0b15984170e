// Package service is the host every Storefront service runs on. It owns, in
// one order, what each service starts and stops: configuration and logger,
// telemetry, the Postgres pool and migrations, NATS and the service's
// streams, authentication, the metrics registry, the outbox relay,
// consumers, background jobs and the gRPC, HTTP and admin servers. A
// service hands it a Spec (its name, migrations, streams, policy and the
// wiring of its own parts) and Main gives every binary the same
// subcommands: serve, migrate, healthcheck and version.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/consumer"
	"github.com/storefront-go/storefront/libs/grpcserver"
	"github.com/storefront-go/storefront/libs/jobs"
	"github.com/storefront-go/storefront/libs/outbox"
	libpg "github.com/storefront-go/storefront/libs/postgres"
)

// Timeouts of the steps around serving.
const (
	// streamTimeout bounds one attempt to create or update the streams.
	streamTimeout = 5 * time.Second
	// maxStreamRetry caps the pause between attempts.
	maxStreamRetry = 30 * time.Second
	// flushTimeout bounds publishing what the outbox holds at shutdown.
	flushTimeout = 10 * time.Second
)

// Host is one running replica of a service: the shared parts, plus what
// the service's Wire added to them.
type Host struct {
	name   string
	cfg    Config
	logger *slog.Logger

	pool *pgxpool.Pool
	// public serves strangers' reads (nil: they share pool).
	public *pgxpool.Pool
	nc     *nats.Conn
	js     jetstream.JetStream
	authn  *auth.Authenticator
	reg    *prometheus.Registry
	relay  *outbox.Relay
	grpc   *grpcserver.Server

	streams      []broker.StreamSpec
	streamsReady chan struct{}
	streamsOnce  sync.Once

	workers    []worker
	onShutdown []func()
	closers    []func() error
}

// worker is background work that runs while the replica serves and a
// little after, so in-flight RPCs still see their events relayed.
type worker struct {
	name string
	run  func(ctx context.Context) error
}

// New builds a replica: it opens the pool, migrates when configured to,
// connects to NATS and provisions the service's streams, sets up
// authentication, metrics, the outbox relay and the servers, then calls
// spec.Wire. ctx bounds the start-up. Call Run exactly once to serve and
// release everything; if New fails it releases what it acquired.
func New[C Configurer](ctx context.Context, spec Spec[C], cfg C, logger *slog.Logger, opts ...grpcserver.Option) (_ *Host, err error) {
	hc := cfg.Host()
	if err := hc.NATS.Validate(); err != nil {
		return nil, err
	}
	if hc.NATS.Name == "" {
		hc.NATS.Name = spec.Name
	}
	h := &Host{
		name:         spec.Name,
		cfg:          hc,
		logger:       logger,
		reg:          grpcserver.NewRegistry(),
		streamsReady: make(chan struct{}),
	}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	for _, s := range spec.Streams {
		h.streams = append(h.streams, hc.NATS.StreamSpec(s.Name, s.Subjects...))
	}

	if h.pool, err = libpg.NewPool(ctx, hc.Postgres); err != nil {
		return nil, err
	}
	if h.public, err = libpg.NewPublicPool(ctx, hc.Postgres); err != nil {
		return nil, err
	}
	if hc.MigrateOnStart {
		if err = migrate(ctx, h.pool, spec.Migrate); err != nil {
			return nil, err
		}
	}
	if h.nc, err = broker.Connect(hc.NATS, logger); err != nil {
		return nil, err
	}
	if h.js, err = jetstream.New(h.nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	// One rule for a stream that can't be created yet (NATS down, or a
	// conflicting stream): the replica still starts and serves, its events
	// wait in the outbox, and Run keeps trying in the background.
	_ = h.ensureStreams(ctx)

	if h.authn, err = auth.New(ctx, hc.Auth, WithInfrastructure(spec.Policy), logger); err != nil {
		return nil, err
	}
	if err = registerBuildInfo(h.reg, spec.Name, BuildInfo()); err != nil {
		return nil, err
	}
	// The relay waits for the service's own streams rather than parking
	// events bound for them while they are not provisioned yet.
	var subjects []string
	for _, s := range h.streams {
		subjects = append(subjects, s.Subjects...)
	}
	if h.relay, err = outbox.NewRelay(h.pool, h.js, hc.Outbox, logger, h.reg, outbox.WithStreamSubjects(subjects...)); err != nil {
		return nil, err
	}
	opts = append([]grpcserver.Option{
		grpcserver.WithInterceptors(h.authn.UnaryServerInterceptor(), h.authn.StreamServerInterceptor()),
		grpcserver.WithReadinessCheck("postgres", h.pool.Ping),
		grpcserver.WithErrorClassifier(libpg.Unavailable),
	}, append(slices.Clone(spec.ServerOptions), opts...)...)
	if h.grpc, err = grpcserver.New(hc.Server, logger, h.reg, opts...); err != nil {
		return nil, err
	}
	if spec.Wire != nil {
		if err = spec.Wire(ctx, h, cfg); err != nil {
			return nil, fmt.Errorf("wire %s: %w", spec.Name, err)
		}
	}
	return h, nil
}

// Migrate applies the outbox's, the consumer inbox's and then the
// service's own migrations with a pool of its own, for the `migrate`
// subcommand and deploy jobs.
func Migrate(ctx context.Context, cfg libpg.Config, own func(context.Context, *pgxpool.Pool) error) error {
	pool, err := libpg.NewPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return migrate(ctx, pool, own)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, own func(context.Context, *pgxpool.Pool) error) error {
	if err := outbox.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := consumer.Migrate(ctx, pool); err != nil {
		return err
	}
	if own == nil {
		return nil
	}
	return own(ctx, pool)
}

// Pool is the service's Postgres pool.
func (h *Host) Pool() *pgxpool.Pool { return h.pool }

// Lanes are the service's pools by caller: reads that callers without a
// token make run on a small pool of their own (DATABASE_PUBLIC_MAX_CONNS),
// everything else on Pool.
func (h *Host) Lanes() libpg.Lanes {
	return libpg.Lanes{Main: h.pool, Public: h.public, Anonymous: auth.Anonymous}
}

// JetStream is the service's JetStream context.
func (h *Host) JetStream() jetstream.JetStream { return h.js }

// Logger is the service's logger.
func (h *Host) Logger() *slog.Logger { return h.logger }

// Registry is where the service registers its own metrics; /metrics on
// the admin port serves it.
func (h *Host) Registry() *prometheus.Registry { return h.reg }

// Register adds an implementation of a gRPC service; the HTTP port serves
// it too, through the same interceptors.
func (h *Host) Register(desc *grpc.ServiceDesc, impl any) { h.grpc.GRPC().RegisterService(desc, impl) }

// StreamsReady is closed once the service's streams exist.
func (h *Host) StreamsReady() <-chan struct{} { return h.streamsReady }

// Consume adds a durable consumer with handler. A consumer that stops with
// an error (the server rejected it, or the connection closed for good)
// shuts the replica down with that error, rather than leave it serving
// without handling its events.
func (h *Host) Consume(cfg consumer.Config, handler consumer.Handler) error {
	r, err := consumer.New(h.pool, h.js, cfg, handler, h.logger, h.reg)
	if err != nil {
		return err
	}
	h.Go("consume "+cfg.Durable, r.Run)
	return nil
}

// Every runs pass every interval while the replica serves, for the bounded
// batch loops (sweeps, expiries, pruning). A failed pass is logged and the
// next one runs on schedule. A non-positive interval disables the job.
func (h *Host) Every(name string, interval time.Duration, pass jobs.Pass) {
	h.periodic(name, interval, func(ctx context.Context) { jobs.Every(ctx, h.logger, name, interval, false, pass) })
}

// Often is Every for a job that runs every second or so: a pass that
// handled items is logged at DEBUG instead of INFO.
func (h *Host) Often(name string, interval time.Duration, pass jobs.Pass) {
	h.periodic(name, interval, func(ctx context.Context) { jobs.Often(ctx, h.logger, name, interval, pass) })
}

func (h *Host) periodic(name string, interval time.Duration, loop func(ctx context.Context)) {
	if interval <= 0 {
		h.logger.Warn("job disabled: its interval is not positive", slog.String("job", name), slog.Duration("interval", interval))
		return
	}
	h.Go(name, func(ctx context.Context) error {
		loop(ctx)
		return nil
	})
}

// Go runs fn in the background from Run's start until the servers have
// stopped; fn must return once its context is done. An error it returns
// shuts the replica down and is part of Run's result.
func (h *Host) Go(name string, fn func(ctx context.Context) error) {
	h.workers = append(h.workers, worker{name: name, run: fn})
}

// OnShutdown calls fn as soon as shutdown starts, before the servers'
// graceful stop, to end what would hold it up (long-lived streams).
func (h *Host) OnShutdown(fn func()) { h.onShutdown = append(h.onShutdown, fn) }

// OnClose calls fn when the replica releases its resources, before NATS
// and the pool close; closers run in reverse order of registration.
func (h *Host) OnClose(fn func() error) { h.closers = append(h.closers, fn) }

// Listen binds the ports; Run calls it when the caller has not.
func (h *Host) Listen() error { return h.grpc.Listen() }

// GRPCAddr is the bound gRPC address, after Listen.
func (h *Host) GRPCAddr() string { return h.grpc.GRPCAddr() }

// HTTPAddr is the bound HTTP address, after Listen.
func (h *Host) HTTPAddr() string { return h.grpc.HTTPAddr() }

// AdminAddr is the bound admin address, after Listen.
func (h *Host) AdminAddr() string { return h.grpc.AdminAddr() }

// Run serves until ctx is done or a worker fails, then shuts down in one
// order for every service:
//
//  1. health goes NOT_SERVING and /readyz fails; OnShutdown hooks run;
//  2. the listeners close and GracefulStop waits for in-flight calls up to
//     the shutdown timeout, then Stop cuts the rest;
//  3. workers stop: consumers finish the events in hand, subscriptions
//     drain, jobs end;
//  4. the outbox is flushed (a failure is logged: the events wait in the
//     outbox for the next start, so it is not a failed shutdown);
//  5. closers run, then NATS and the pool close.
//
// Telemetry is flushed by Main after Run returns. Run releases everything
// New acquired, so call it exactly once.
func (h *Host) Run(ctx context.Context) error {
	defer h.close()
	// runCtx ends serving: the caller's cancel or a worker that failed.
	// Workers run on workCtx, which ends only after the servers have
	// stopped, so in-flight calls still see their events relayed and
	// consumers drain after GracefulStop.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := h.relay.Run(workCtx); err != nil {
			h.logger.ErrorContext(workCtx, "outbox relay stopped", slog.Any("error", err))
		}
	})
	wg.Go(func() { h.provisionStreams(workCtx) })
	// Each worker writes only its own slot; they are read after wg.Wait.
	errs := make([]error, len(h.workers))
	for i, w := range h.workers {
		wg.Go(func() {
			if err := w.run(workCtx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", w.name, err)
				cancel()
			}
		})
	}
	wg.Go(func() {
		<-runCtx.Done()
		for _, fn := range h.onShutdown {
			fn()
		}
	})

	serveErr := h.grpc.Run(runCtx)
	cancel()
	stopWork()
	wg.Wait()

	// The parent context is done; the flush has its own clock.
	flushCtx, flushCancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer flushCancel()
	if err := h.relay.Flush(flushCtx); err != nil {
		h.logger.WarnContext(flushCtx, "flush outbox at shutdown; the events wait in the outbox for the next start",
			slog.Any("error", err))
	}
	h.logger.InfoContext(flushCtx, h.name+" stopped")
	return errors.Join(serveErr, errors.Join(errs...))
}

// ensureStreams creates or updates every stream the service produces to,
// within streamTimeout, and closes streamsReady once all exist.
func (h *Host) ensureStreams(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	for _, spec := range h.streams {
		if _, err := broker.EnsureStream(ctx, h.js, spec); err != nil {
			h.logger.WarnContext(ctx, "provision stream; the service serves and its events wait in the outbox until it exists",
				slog.String("stream", spec.Name), slog.Any("error", err))
			return err
		}
	}
	h.streamsOnce.Do(func() { close(h.streamsReady) })
	return nil
}

// provisionStreams retries ensureStreams with backoff until it succeeds
// or ctx is done; it returns at once when the streams exist.
func (h *Host) provisionStreams(ctx context.Context) {
	wait := time.Second
	for {
		select {
		case <-h.streamsReady:
			return
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if h.ensureStreams(ctx) == nil {
			h.logger.InfoContext(ctx, "streams provisioned")
			return
		}
		wait = min(2*wait, maxStreamRetry)
	}
}

// close releases what New acquired, in reverse order; nil fields are skipped.
func (h *Host) close() {
	for _, v := range slices.Backward(h.closers) {
		if err := v(); err != nil {
			h.logger.Warn("release resource", slog.Any("error", err))
		}
	}
	if h.authn != nil {
		h.authn.Close()
	}
	if h.nc != nil {
		h.nc.Close()
	}
	if h.public != nil {
		h.public.Close()
	}
	if h.pool != nil {
		h.pool.Close()
	}
}
