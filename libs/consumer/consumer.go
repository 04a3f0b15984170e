package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/storefront-go/storefront/libs/broker"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAckWait    = 30 * time.Second
	DefaultMaxDeliver = 5
	DefaultFetchBatch = 10
)

// defaultBackoff is the delay before each retry when Config.Backoff is empty.
func defaultBackoff() []time.Duration {
	return []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}
}

const (
	// fetchWait bounds one pull request, and so how long shutdown waits for
	// the fetch in progress.
	fetchWait = time.Second
	// pendingInterval is how often the pending gauge is refreshed.
	pendingInterval = 5 * time.Second
	// retryDelay spaces out attempts after a failed fetch or setup.
	retryDelay = time.Second
	// maxSetupDelay caps the backoff between setup attempts.
	maxSetupDelay = 10 * time.Second
	// ackTimeout bounds waiting for the server to confirm an ack.
	ackTimeout = 5 * time.Second
	// deadLetterMaxAge keeps dead letters long enough to be inspected and re-driven.
	deadLetterMaxAge = 30 * 24 * time.Hour
	// deadLetterDuplicateWindow covers a redelivery after a lost Term, so the
	// event is not dead-lettered twice.
	deadLetterDuplicateWindow = time.Hour
	// tracerName names the tracer of consumer spans.
	tracerName = "github.com/storefront-go/storefront/libs/consumer"
)

// Config describes one durable consumer.
type Config struct {
	// Stream is the stream to consume, e.g. "ORDERS".
	Stream string
	// Durable names the consumer; it is also the inbox key and the last token
	// of the dead-letter subject, so it may not contain '.', '*', '>' or spaces.
	Durable string
	// FilterSubjects restricts the consumer to these subjects; empty means all.
	FilterSubjects []string
	// AckWait is how long one attempt may take before JetStream redelivers
	// (default 30s). Handlers run with this as their deadline.
	AckWait time.Duration
	// MaxDeliver is the number of attempts before a message is dead-lettered
	// (default 5). Only attempts that are the handler's to answer for count:
	// one that failed because the database was unreachable does not (the
	// runner pauses instead). The runner keeps the count in Postgres
	// (consumer_attempts); the JetStream consumer redelivers without limit.
	// A redelivery is counted before its handler runs, so attempts that
	// never finish (a crash) still count, all but the first delivery's.
	MaxDeliver int
	// Backoff is the delay before retry n (after attempt n); the last value
	// repeats (default 1s, 5s, 30s).
	Backoff []time.Duration
	// MaxAckPending caps unacknowledged messages across all replicas (0 keeps
	// the server default).
	MaxAckPending int
	// FetchBatch is how many messages one pull request asks for (default 10).
	// They are handled one after another, and the last one's AckWait runs
	// from the fetch, so keep FetchBatch times the handler's duration well
	// below AckWait.
	FetchBatch int
	// InboxRetention is how long inbox rows are kept (default 7 days). It
	// must outlast every redelivery of an event, or a late redelivery would be
	// handled twice.
	InboxRetention time.Duration
}

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.AckWait == 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = DefaultMaxDeliver
	}
	if len(cfg.Backoff) == 0 {
		cfg.Backoff = defaultBackoff()
	} else {
		cfg.Backoff = append([]time.Duration(nil), cfg.Backoff...)
	}
	cfg.FilterSubjects = append([]string(nil), cfg.FilterSubjects...)
	if cfg.FetchBatch == 0 {
		cfg.FetchBatch = DefaultFetchBatch
	}
	if cfg.InboxRetention == 0 {
		cfg.InboxRetention = DefaultInboxRetention
	}
	return cfg
}

func (cfg Config) validate() error {
	var errs []error
	if cfg.Stream == "" {
		errs = append(errs, errors.New("stream is required"))
	}
	switch {
	case cfg.Durable == "":
		errs = append(errs, errors.New("durable is required"))
	case strings.ContainsAny(cfg.Durable, ".*> \t\r\n"):
		errs = append(errs, fmt.Errorf("durable %q may not contain '.', '*', '>' or whitespace", cfg.Durable))
	}
	if cfg.AckWait < 0 {
		errs = append(errs, fmt.Errorf("ack wait %s is negative", cfg.AckWait))
	}
	if cfg.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("max deliver %d is below 1", cfg.MaxDeliver))
	}
	for _, d := range cfg.Backoff {
		if d < 0 {
			errs = append(errs, fmt.Errorf("backoff %s is negative", d))
			break
		}
	}
	if cfg.MaxAckPending < 0 {
		errs = append(errs, fmt.Errorf("max ack pending %d is negative", cfg.MaxAckPending))
	}
	if cfg.FetchBatch < 1 {
		errs = append(errs, fmt.Errorf("fetch batch %d is below 1", cfg.FetchBatch))
	}
	if horizon := cfg.redeliveryHorizon(); cfg.InboxRetention < horizon {
		errs = append(errs, fmt.Errorf("inbox retention %s is shorter than the redelivery horizon %s", cfg.InboxRetention, horizon))
	}
	return errors.Join(errs...)
}

// redeliveryHorizon bounds how long after its first delivery an event can
// still be delivered: every attempt's AckWait plus every backoff.
func (cfg Config) redeliveryHorizon() time.Duration {
	h := time.Duration(cfg.MaxDeliver+1) * cfg.AckWait
	for attempt := 1; attempt <= cfg.MaxDeliver; attempt++ {
		h += cfg.backoffAfter(int64(attempt))
	}
	return h
}

// backoffAfter returns the delay before the retry that follows the given
// attempt (1-based); the last configured delay repeats.
func (cfg Config) backoffAfter(attempt int64) time.Duration {
	if len(cfg.Backoff) == 0 {
		return 0
	}
	i := 0
	for n := int64(1); n < attempt && i < len(cfg.Backoff)-1; n++ {
		i++
	}
	return cfg.Backoff[i]
}

// consumerConfig is the JetStream consumer for cfg, delivering from the
// start of the stream (ensureConsumer picks where a new one starts).
// JetStream's BackOff replaces AckWait for each delivery, so every step is
// AckWait plus the configured delay: a handler always gets its full
// AckWait, and a message whose attempt never finished waits the same
// backoff as a failed one. MaxDeliver is unlimited: JetStream counts every
// delivery, those handed back during a database outage too, so the runner
// enforces cfg.MaxDeliver from its own count. The filters include the
// durable's redrive subjects.
func (cfg Config) consumerConfig() jetstream.ConsumerConfig {
	backoff := make([]time.Duration, len(cfg.Backoff))
	for i := range backoff {
		backoff[i] = cfg.AckWait + cfg.Backoff[i]
	}
	cc := jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "storefront consumer " + cfg.Durable,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		BackOff:       backoff,
		MaxAckPending: cfg.MaxAckPending,
	}
	if len(backoff) > 0 {
		cc.AckWait = backoff[0]
	}
	switch filters := cfg.filterSubjects(); len(filters) {
	case 0:
	case 1:
		cc.FilterSubject = filters[0]
	default:
		cc.FilterSubjects = filters
	}
	return cc
}

// Option customises a Runner.
type Option func(*options)

type options struct {
	tracerProvider  trace.TracerProvider
	propagator      propagation.TextMapPropagator
	pendingInterval time.Duration
	pruneInterval   time.Duration
	// dbTimeout bounds a ping and each bookkeeping statement; probeMinDelay
	// and probeMaxDelay space out the pings of a paused runner.
	dbTimeout     time.Duration
	probeMinDelay time.Duration
	probeMaxDelay time.Duration
	// skipAck, when set and true for a message, leaves a committed message
	// unacknowledged so that tests can force a genuine redelivery.
	skipAck func(Message) bool
}

// WithTracerProvider sets where consumer spans go. The default is the
// provider registered with otel.SetTracerProvider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// WithPropagator sets how trace context is read from message headers. The
// default is W3C trace context, matching the outbox.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.propagator = p }
}

// Runner consumes one durable consumer and applies a Handler to each message.
type Runner struct {
	pool       *pgxpool.Pool
	js         jetstream.JetStream
	cfg        Config
	handler    Handler
	logger     *slog.Logger
	metrics    *metrics
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	opts       options
	dlqSubject string
	// maxDeliver is cfg.MaxDeliver in the type of attempt counts.
	maxDeliver int64
	// refunds are charged attempts that a database outage ended, to take
	// back once it answers. Only Run's goroutine touches them.
	refunds map[attemptKey]int
}

// New validates cfg, applies defaults and registers metrics on reg (nil
// disables registration). Nothing touches NATS until Run.
func New(pool *pgxpool.Pool, js jetstream.JetStream, cfg Config, handler Handler, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("consumer config: %w", err)
	}
	if pool == nil || js == nil || handler == nil {
		return nil, errors.New("consumer: pool, jetstream and handler are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := options{
		pendingInterval: pendingInterval,
		pruneInterval:   pruneInterval,
		dbTimeout:       DefaultProbeTimeout,
		probeMinDelay:   probeMinDelay,
		probeMaxDelay:   probeMaxDelay,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.tracerProvider == nil {
		o.tracerProvider = otel.GetTracerProvider()
	}
	if o.propagator == nil {
		o.propagator = propagation.TraceContext{}
	}
	m, err := newMetrics(reg, cfg.Durable)
	if err != nil {
		return nil, err
	}
	return &Runner{
		pool:       pool,
		js:         js,
		cfg:        cfg,
		handler:    handler,
		logger:     logger.With(slog.String("consumer", cfg.Durable), slog.String("stream", cfg.Stream)),
		metrics:    m,
		tracer:     o.tracerProvider.Tracer(tracerName),
		propagator: o.propagator,
		opts:       o,
		dlqSubject: broker.DeadLetterSubject(cfg.Durable),
		maxDeliver: int64(cfg.MaxDeliver),
		refunds:    make(map[attemptKey]int),
	}, nil
}

// Run creates or updates the durable consumer, makes sure the dead-letter
// stream exists, and handles messages until ctx is done. Then it stops
// fetching, finishes the message in hand (its handler keeps running with
// AckWait as deadline), releases the rest of the batch for redelivery, and
// returns nil.
//
// When the database does not answer, Run hands the batch in hand back
// without using up attempts and fetches nothing until a ping succeeds
// (storefront_consumer_paused is 1 meanwhile).
//
// Setup is retried while NATS is unreachable or the stream does not exist
// yet (its producer may start later). Run returns an error only when the
// server rejects the consumer's configuration or the connection is closed.
func (r *Runner) Run(ctx context.Context) error {
	cons, err := r.setup(ctx)
	if err != nil || cons == nil {
		return err
	}

	pollCtx, stopPolling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.pollPending(pollCtx, cons) })
	wg.Go(func() { r.pruneLoop(pollCtx) })
	defer func() {
		stopPolling()
		wg.Wait()
	}()

	r.logger.InfoContext(ctx, "consumer started")
	for ctx.Err() == nil {
		if len(r.refunds) > 0 {
			r.settleRefunds(ctx)
		}
		next, outage, err := r.fetch(ctx, cons)
		if outage != nil {
			r.waitForDatabase(ctx, outage)
		}
		if errors.Is(err, nats.ErrConnectionClosed) {
			return fmt.Errorf("consume %s: %w", r.cfg.Durable, err)
		}
		if err != nil {
			r.logger.WarnContext(ctx, "fetch messages", slog.Any("error", err))
			sleep(ctx, retryDelay)
			continue
		}
		cons = next
	}
	// Naks of released messages are not confirmed; push them out before the
	// caller closes the connection.
	if err := r.js.Conn().FlushTimeout(ackTimeout); err != nil {
		r.logger.DebugContext(ctx, "flush at shutdown", slog.Any("error", err))
	}
	r.logger.InfoContext(ctx, "consumer stopped")
	return nil
}

// setup creates the consumer and the dead-letter stream, retrying transient
// failures with capped exponential backoff. It returns a nil consumer and
// nil error when ctx ends first.
func (r *Runner) setup(ctx context.Context) (jetstream.Consumer, error) {
	delay := retryDelay
	for {
		cons, err := r.ensureConsumer(ctx)
		if err == nil {
			err = r.ensureDeadLetterStream(ctx)
		}
		switch {
		case err == nil:
			return cons, nil
		case ctx.Err() != nil:
			return nil, nil //nolint:nilerr // stopping is not a setup failure: Run returns nil once ctx is done
		case !retryable(err):
			return nil, err
		}
		r.logger.WarnContext(ctx, "set up consumer; retrying", slog.Duration("delay", delay), slog.Any("error", err))
		sleep(ctx, delay)
		delay = min(2*delay, maxSetupDelay)
	}
}

// retryable reports whether a setup error may go away by itself: a stream
// that is not there yet, or anything short of an invalid request or the
// server rejecting it.
func retryable(err error) bool {
	for _, permanent := range []error{
		nats.ErrConnectionClosed,
		jetstream.ErrInvalidStreamName,
		jetstream.ErrInvalidConsumerName,
		jetstream.ErrInvalidSubject,
	} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	var apiErr *jetstream.APIError
	return !errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// fetch runs one pull request and handles what it delivers. It returns the
// consumer to use next, recreated if the server lost it, and a non-nil
// outage when a message found the database unreachable: the messages after
// it in the batch are handed back unhandled.
func (r *Runner) fetch(ctx context.Context, cons jetstream.Consumer) (next jetstream.Consumer, outage, err error) {
	batch, err := cons.Fetch(r.cfg.FetchBatch, jetstream.FetchMaxWait(fetchWait))
	if err != nil {
		next, err = r.recreateIfLost(ctx, cons, fmt.Errorf("pull from %s: %w", r.cfg.Durable, err))
		return next, nil, err
	}
	for msg := range batch.Messages() {
		switch {
		case ctx.Err() != nil:
			r.release(ctx, msg)
		case outage != nil:
			r.postpone(ctx, msg)
		default:
			outage = r.process(ctx, msg)
		}
	}
	if err := batch.Error(); err != nil && ctx.Err() == nil {
		next, err = r.recreateIfLost(ctx, cons, fmt.Errorf("pull from %s: %w", r.cfg.Durable, err))
		return next, outage, err
	}
	return cons, outage, nil
}

// recreateIfLost recreates the consumer when err says the server no longer
// has it (for example after its stream was restored), and returns err
// otherwise.
func (r *Runner) recreateIfLost(ctx context.Context, cons jetstream.Consumer, err error) (jetstream.Consumer, error) {
	if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrConsumerDeleted) {
		return cons, err
	}
	next, cerr := r.ensureConsumer(ctx)
	if cerr != nil {
		return cons, fmt.Errorf("recreate consumer after %w: %w", err, cerr)
	}
	r.logger.WarnContext(ctx, "consumer recreated", slog.Any("error", err))
	return next, nil
}

// ensureDeadLetterStream creates the dead-letter stream when it is missing. An
// existing one is left as it is, so operators may provision it differently.
func (r *Runner) ensureDeadLetterStream(ctx context.Context) error {
	_, err := r.js.Stream(ctx, broker.DeadLetterStream)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("look up stream %s: %w", broker.DeadLetterStream, err)
	}
	_, err = broker.EnsureDeadLetterStream(ctx, r.js, broker.StreamSpec{
		DuplicateWindow: deadLetterDuplicateWindow,
		MaxAge:          deadLetterMaxAge,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", broker.DeadLetterStream, err)
	}
	return nil
}

// pollPending refreshes the lag gauges, pending messages and the age of
// the oldest unacknowledged one, until ctx is done.
func (r *Runner) pollPending(ctx context.Context, cons jetstream.Consumer) {
	ticker := time.NewTicker(r.opts.pendingInterval)
	defer ticker.Stop()
	for {
		info, err := cons.Info(ctx)
		if err == nil {
			r.metrics.pending.Set(float64(info.NumPending))
			var age time.Duration
			if info.NumPending > 0 || info.NumAckPending > 0 {
				age, err = r.oldestPendingAge(ctx, info.AckFloor.Stream+1)
			}
			if err == nil {
				r.metrics.oldestAge.Set(age.Seconds())
			}
		}
		if err != nil && ctx.Err() == nil {
			r.logger.DebugContext(ctx, "read consumer lag", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// oldestPendingAge is the age of the first message at or after seq on
// one of the consumer's subjects: the oldest it has not acknowledged.
func (r *Runner) oldestPendingAge(ctx context.Context, seq uint64) (time.Duration, error) {
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", r.cfg.Stream, err)
	}
	subjects := r.cfg.filterSubjects()
	if len(subjects) == 0 {
		subjects = []string{">"}
	}
	var oldest *jetstream.RawStreamMsg
	for _, subject := range subjects {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("next message on %s: %w", subject, err)
		}
		if oldest == nil || msg.Sequence < oldest.Sequence {
			oldest = msg
		}
	}
	if oldest == nil {
		return 0, nil
	}
	return max(0, time.Since(oldest.Time)), nil
}

// sleep waits for d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
