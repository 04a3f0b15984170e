package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/jobs"
)

const (
	// cleanupBatch bounds the rows one cleanup statement deletes, keeping
	// its locks and WAL small.
	cleanupBatch = 1000
	// maxCleanupBatches bounds one cleanup pass; the rest waits for the next.
	maxCleanupBatches = 100
	// markTimeout bounds marking rows published after their PubAcks, which
	// runs even when the caller's context is done so acknowledged work is
	// not repeated needlessly.
	markTimeout = 10 * time.Second
	// maxErrorLen bounds the error text stored in last_error.
	maxErrorLen = 1024
)

// publisher is the part of jetstream.JetStream the relay uses.
type publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
	// StreamNameBySubject tells a subject no stream covers from a stream
	// whose leader is away, which both answer a publish with no responders.
	StreamNameBySubject(ctx context.Context, subject string) (string, error)
	Conn() *nats.Conn
}

// metricsRefreshInterval bounds how often a draining relay recounts its backlog.
const metricsRefreshInterval = time.Second

// Relay publishes pending outbox rows to JetStream.
//
// A row that fails on its own account (no stream covers its subject, it is
// too large for the server or stream, its stream is sealed) does not hold
// up the rows behind it: its attempt is recorded, it is retried after a
// pause that doubles per attempt, and after MaxAttempts attempts it is
// parked (dead_at set) and never selected again until Requeue. An outage
// (the connection down, JetStream unavailable or without a leader, the
// account or server over its storage, a discard-new stream full) stops the
// batch instead, in order, backing off until it passes, and never parks a
// row; see classify for how each JetStream error code is judged.
type Relay struct {
	pool    *pgxpool.Pool
	js      publisher
	cfg     RelayConfig
	logger  *slog.Logger
	metrics *metrics
	// expected are the subject filters of the streams the service
	// provisions; see WithStreamSubjects.
	expected []string
	tracer   trace.Tracer
}

// Option configures a Relay.
type Option func(*Relay)

// WithStreamSubjects tells the relay the subject filters of the streams
// the service provisions itself. A row on such a subject that no stream
// covers yet waits for the stream (an outage: the service is still
// creating it) instead of counting towards being parked. Rows on other
// subjects that no stream covers are the row's fault, as before.
func WithStreamSubjects(filters ...string) Option {
	return func(r *Relay) { r.expected = append(r.expected, filters...) }
}

// WithTracerProvider sets where the relay's publish spans go. The default
// is the provider registered with otel.SetTracerProvider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(r *Relay) { r.tracer = tp.Tracer(tracerName) }
}

// tracerName names the tracer of the relay's publish spans.
const tracerName = "github.com/storefront-go/storefront/libs/outbox"

// NewRelay returns a relay over the outbox_events table in pool. Metrics
// are registered on reg; a nil reg leaves them unregistered.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, cfg RelayConfig, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Relay, error) {
	if pool == nil {
		return nil, errors.New("new outbox relay: nil pool")
	}
	if js == nil {
		return nil, errors.New("new outbox relay: nil jetstream")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new outbox relay: %w", err)
	}
	r := &Relay{
		pool:    pool,
		js:      js,
		cfg:     cfg.withDefaults(),
		logger:  logger.With(slog.String("component", "outbox")),
		metrics: m,
		tracer:  otel.GetTracerProvider().Tracer(tracerName),
	}
	for _, opt := range opts {
		opt(r)
	}
	return r, nil
}

// Run publishes pending rows until ctx is done, polling every PollInterval
// when idle, backing off exponentially while publishing fails, and deleting
// published rows past Retention every CleanupInterval. It returns nil once
// ctx is done; call Flush afterwards to publish what is left.
func (r *Relay) Run(ctx context.Context) error {
	failures := 0
	nextCleanup := time.Now()
	nextRefresh := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}

		b, err := r.publishBatch(ctx)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = r.cfg.backoff(failures)
			r.logger.WarnContext(ctx, "outbox publish failed; backing off",
				slog.Any("error", err),
				slog.Int("published", b.published),
				slog.Int("consecutive_failures", failures),
				slog.Duration("backoff", wait))
		case b.claimed == r.cfg.BatchSize:
			// More may be waiting: poll again at once. Rows that failed on
			// their own account wait for their next_attempt_at, so this
			// cannot spin on them.
			failures = 0
		default:
			failures = 0
			wait = r.cfg.PollInterval
		}

		// The gauges scan every pending row: while a backlog drains batch
		// after batch, refresh them at most once a second, not per batch.
		if now := time.Now(); wait > 0 || !now.Before(nextRefresh) {
			nextRefresh = now.Add(metricsRefreshInterval)
			if err := r.refreshMetrics(ctx); err != nil && ctx.Err() == nil {
				r.logger.WarnContext(ctx, "refresh outbox metrics", slog.Any("error", err))
			}
		}
		if now := time.Now(); !now.Before(nextCleanup) {
			nextCleanup = now.Add(r.cfg.CleanupInterval)
			if _, err := r.Cleanup(ctx); err != nil && ctx.Err() == nil {
				r.logger.WarnContext(ctx, "outbox cleanup", slog.Any("error", err))
			}
		}
		timer.Reset(wait)
	}
}

// Flush publishes the rows pending when it is called, batch after batch,
// and returns the first error. It is meant for shutdown, after Run has
// returned, and for tests. Rows that other relays hold locked are left to
// them, as are rows waiting out the pause after a failure of their own and
// parked rows.
func (r *Relay) Flush(ctx context.Context) error {
	st, err := r.stats(ctx)
	if err != nil {
		return fmt.Errorf("flush outbox: %w", err)
	}
	// Rows added while flushing may be published too, but the loop is
	// bounded by what was pending at the start plus one batch.
	maxBatches := st.pending/int64(r.cfg.BatchSize) + 2
	for range maxBatches {
		b, err := r.publishBatch(ctx)
		if err != nil {
			return fmt.Errorf("flush outbox: %w", err)
		}
		if b.claimed < r.cfg.BatchSize {
			break
		}
	}
	if err := r.refreshMetrics(ctx); err != nil {
		return fmt.Errorf("flush outbox: %w", err)
	}
	return nil
}

// Requeue returns parked rows to the queue; see the package-level Requeue.
func (r *Relay) Requeue(ctx context.Context, ids ...uuid.UUID) (int64, error) {
	return Requeue(ctx, r.pool, ids...)
}

// row is one claimed outbox event.
type row struct {
	id        uuid.UUID
	subject   string
	eventType string
	payload   []byte
	headers   map[string]string
	attempts  int
}

// batch counts what one publishBatch did.
type batch struct {
	claimed   int
	published int
}

// rowFailure is a failed publish that did not stop the batch.
type rowFailure struct {
	row row
	err error
}

// PublishPending claims up to BatchSize pending rows, oldest first,
// publishes each and waits for its PubAck, then marks the acknowledged rows
// published in the same transaction, and returns how many it published.
//
// A row that fails on its own account has the attempt recorded, is retried
// after a pause and is parked at MaxAttempts; the batch goes on, and the
// failure is logged rather than returned. A failure of the connection or of
// JetStream records the attempt on that row and stops the batch: the rows
// already acknowledged are committed, and their count is returned with the
// error.
func (r *Relay) PublishPending(ctx context.Context) (int, error) {
	b, err := r.publishBatch(ctx)
	return b.published, err
}

func (r *Relay) publishBatch(ctx context.Context) (batch, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return batch{}, fmt.Errorf("begin outbox batch: %w", err)
	}
	// Rollback after Commit is a no-op; it only matters on early returns.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	rows, err := claim(ctx, tx, r.cfg.BatchSize)
	if err != nil {
		return batch{}, err
	}
	if len(rows) == 0 {
		return batch{}, nil
	}

	published := make([]uuid.UUID, 0, len(rows))
	duplicates := 0
	var failed []rowFailure
	// noStream holds the subjects JetStream confirmed, during this batch,
	// that no stream covers, so their other rows skip the lookup.
	noStream := make(map[string]bool)
	var stopErr error
	var stopRow *row
	for i := range rows {
		row := &rows[i]
		if ctx.Err() != nil {
			stopErr = fmt.Errorf("publish outbox event %s: %w", row.id, ctx.Err())
			break
		}
		ack, err := r.publish(ctx, *row, noStream[row.subject])
		if err == nil {
			if ack.Duplicate {
				duplicates++
			}
			published = append(published, row.id)
			continue
		}
		err = fmt.Errorf("publish outbox event %s to %s: %w", row.id, row.subject, err)
		v := classify(err, r.connected())
		if v == noResponders {
			if noStream[row.subject] {
				v = rowSpecific
			} else {
				v, err = r.settle(ctx, row.subject, err)
				noStream[row.subject] = v == rowSpecific
			}
		}
		if v != rowSpecific || ctx.Err() != nil {
			stopErr, stopRow = err, row
			break
		}
		failed = append(failed, rowFailure{row: *row, err: err})
	}

	// The acknowledged messages are in the stream: record that even if ctx
	// is done, or they would be sent again (and dropped as duplicates).
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if len(published) > 0 {
		if _, err := tx.Exec(markCtx,
			`UPDATE outbox_events SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)`,
			published); err != nil {
			return batch{}, errors.Join(stopErr, fmt.Errorf("mark %d outbox events published: %w", len(published), err))
		}
	}
	parked := make([]bool, len(failed))
	for i, f := range failed {
		if parked[i], err = r.recordRowFailure(markCtx, tx, f); err != nil {
			return batch{}, errors.Join(stopErr, err)
		}
	}
	if stopRow != nil {
		// Only the row actually tried pays an attempt; the rows behind it
		// were not tried, so an outage costs one attempt per pass.
		if _, err := tx.Exec(markCtx,
			`UPDATE outbox_events SET attempts = attempts + 1, last_error = $2 WHERE id = $1`,
			stopRow.id, truncate(stopErr.Error(), maxErrorLen)); err != nil {
			return batch{}, errors.Join(stopErr, fmt.Errorf("record failed attempt on %s: %w", stopRow.id, err))
		}
	}
	if err := tx.Commit(markCtx); err != nil {
		return batch{}, errors.Join(stopErr, fmt.Errorf("commit outbox batch: %w", err))
	}

	r.metrics.published.Add(float64(len(published)))
	r.metrics.duplicates.Add(float64(duplicates))
	r.metrics.rowFailures.Add(float64(len(failed)))
	if stopRow != nil && ctx.Err() == nil {
		// A batch cut short by shutdown is not a failure to publish.
		r.metrics.outageFailures.Inc()
	}
	for i, f := range failed {
		if parked[i] {
			r.metrics.deadTotal.Inc()
		}
		r.logRowFailure(ctx, f, parked[i])
	}
	return batch{claimed: len(rows), published: len(published)}, stopErr
}

// recordRowFailure records a row-specific failed attempt on f's row and
// schedules its next one, or parks the row once it has had MaxAttempts.
// It reports whether the row was parked.
func (r *Relay) recordRowFailure(ctx context.Context, tx pgx.Tx, f rowFailure) (bool, error) {
	retryIn := r.cfg.backoff(f.row.attempts + 1)
	var parked bool
	// clock_timestamp, not now(): the batch may have run for a while since
	// its transaction began.
	err := tx.QueryRow(ctx,
		`UPDATE outbox_events
		    SET attempts = attempts + 1,
		        last_error = $2,
		        next_attempt_at = clock_timestamp() + make_interval(secs => $3),
		        dead_at = CASE WHEN attempts + 1 >= $4 THEN clock_timestamp() END
		  WHERE id = $1
		RETURNING dead_at IS NOT NULL`,
		f.row.id, truncate(f.err.Error(), maxErrorLen), retryIn.Seconds(), r.cfg.MaxAttempts).Scan(&parked)
	if err != nil {
		return false, fmt.Errorf("record failed attempt on %s: %w", f.row.id, err)
	}
	return parked, nil
}

func (r *Relay) logRowFailure(ctx context.Context, f rowFailure, parked bool) {
	attrs := []slog.Attr{
		slog.String("id", f.row.id.String()),
		slog.String("subject", f.row.subject),
		slog.String("type", f.row.eventType),
		slog.Int("attempts", f.row.attempts+1),
		slog.Any("error", f.err),
	}
	if parked {
		r.logger.LogAttrs(ctx, slog.LevelError, "outbox event parked after its last attempt; requeue it once the cause is fixed", attrs...)
		return
	}
	attrs = append(attrs, slog.Duration("retry_in", r.cfg.backoff(f.row.attempts+1)))
	r.logger.LogAttrs(ctx, slog.LevelWarn, "outbox event publish failed; retrying it later", attrs...)
}

// connected reports whether the NATS connection is up. A JetStream without
// a connection to ask is taken as connected, leaving the error to speak.
func (r *Relay) connected() bool {
	nc := r.js.Conn()
	return nc == nil || nc.IsConnected()
}

// settle asks JetStream which stream covers subject after a publish on it
// got no responders, and returns the verdict with publishErr annotated.
func (r *Relay) settle(ctx context.Context, subject string, publishErr error) (verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	name, err := r.js.StreamNameBySubject(ctx, subject)
	expected := r.expects(subject)
	switch v := settle(err, expected); {
	case v == rowSpecific:
		return v, fmt.Errorf("%w: no stream covers the subject", publishErr)
	case expected && errors.Is(err, jetstream.ErrStreamNotFound):
		return v, fmt.Errorf("%w: no stream covers the subject yet; waiting for the service to provision it", publishErr)
	case err == nil:
		return v, fmt.Errorf("%w: stream %s covers the subject but did not answer", publishErr, name)
	default:
		return v, fmt.Errorf("%w (look up the stream for %s: %w)", publishErr, subject, err)
	}
}

// expects reports whether a stream the service provisions covers subject.
func (r *Relay) expects(subject string) bool {
	for _, f := range r.expected {
		if subjectMatches(subject, f) {
			return true
		}
	}
	return false
}

// claim locks up to limit pending rows that no other relay holds, leaving
// parked rows and rows whose next attempt is not due yet.
func claim(ctx context.Context, tx pgx.Tx, limit int) ([]row, error) {
	rows, err := tx.Query(ctx,
		`SELECT id, subject, event_type, payload, headers, attempts
		   FROM outbox_events
		  WHERE published_at IS NULL
		    AND dead_at IS NULL
		    AND (next_attempt_at IS NULL OR next_attempt_at <= now())
		  ORDER BY created_at, id
		  LIMIT $1
		  FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, fmt.Errorf("claim outbox events: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(rs pgx.CollectableRow) (row, error) {
		var r row
		err := rs.Scan(&r.id, &r.subject, &r.eventType, &r.payload, &r.headers, &r.attempts)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox events: %w", err)
	}
	return claimed, nil
}

// publish sends one row and waits for its PubAck. noStream skips the
// client's retries on no responders for a subject already known to have
// no stream, which would only delay the batch.
func (r *Relay) publish(ctx context.Context, row row, noStream bool) (*jetstream.PubAck, error) {
	msg := &nats.Msg{
		Subject: row.subject,
		Data:    row.payload,
		Header:  make(nats.Header, len(row.headers)+2),
	}
	// Stored headers are the trace context captured at Enqueue.
	for k, v := range row.headers {
		msg.Header.Set(k, v)
	}
	msg.Header.Set(broker.HeaderMsgID, row.id.String())
	msg.Header.Set(broker.HeaderType, row.eventType)
	// A traced event gets a producer span, a child of the span that
	// enqueued it, and consumers continue from the publish: the trace shows
	// how long the event waited in the outbox and how long the PubAck took.
	// An untraced event starts no trace of its own.
	if parent := broker.ExtractTrace(ctx, msg.Header); trace.SpanContextFromContext(parent).IsValid() {
		var span trace.Span
		ctx, span = r.tracer.Start(parent, "publish "+row.subject,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				semconv.MessagingSystemKey.String("nats"),
				semconv.MessagingOperationTypeSend,
				semconv.MessagingOperationName("publish"),
				semconv.MessagingDestinationName(row.subject),
				semconv.MessagingMessageID(row.id.String()),
				semconv.MessagingMessageBodySize(len(row.payload)),
				attribute.String("storefront.event.type", row.eventType),
			))
		defer span.End()
		broker.InjectTrace(ctx, msg.Header)
		ack, err := r.publishMsg(ctx, msg, noStream)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish failed")
			return nil, err
		}
		span.SetAttributes(attribute.String("messaging.nats.stream.sequence", strconv.FormatUint(ack.Sequence, 10)), attribute.Bool("messaging.nats.duplicate", ack.Duplicate))
		return ack, nil
	}
	return r.publishMsg(ctx, msg, noStream)
}

// publishMsg publishes msg within PublishTimeout.
func (r *Relay) publishMsg(ctx context.Context, msg *nats.Msg, noStream bool) (*jetstream.PubAck, error) {
	var opts []jetstream.PublishOpt
	if noStream {
		opts = append(opts, jetstream.WithRetryAttempts(0))
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	ack, err := r.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return nil, err
	}
	return ack, nil
}

// Cleanup deletes published rows older than Retention, in bounded batches,
// and returns how many it deleted. Pending rows are never deleted, nor are
// parked ones: they are kept for an operator to requeue or delete.
func (r *Relay) Cleanup(ctx context.Context) (int64, error) {
	n, err := jobs.Drain(ctx, cleanupBatch, maxCleanupBatches, func(ctx context.Context, limit int) (int, error) {
		tag, err := r.pool.Exec(ctx,
			`DELETE FROM outbox_events
			  WHERE id IN (
			        SELECT id FROM outbox_events
			         WHERE published_at IS NOT NULL
			           AND published_at < now() - make_interval(secs => $1)
			         LIMIT $2)`,
			r.cfg.Retention.Seconds(), limit)
		if err != nil {
			return 0, fmt.Errorf("delete published outbox events: %w", err)
		}
		r.metrics.cleanupDeletion.Add(float64(tag.RowsAffected()))
		return int(tag.RowsAffected()), nil
	})
	return int64(n), err
}

// stats are counts over the outbox table for the gauges.
type stats struct {
	pending   int64
	oldestAge time.Duration
	dead      int64
}

// stats counts pending rows (parked ones excluded), the age of the oldest
// one, and parked rows. Each subquery reads one partial index.
func (r *Relay) stats(ctx context.Context) (stats, error) {
	var st stats
	var ageSeconds float64
	err := r.pool.QueryRow(ctx,
		`SELECT (SELECT count(*) FROM outbox_events
		          WHERE published_at IS NULL AND dead_at IS NULL),
		        COALESCE((SELECT EXTRACT(EPOCH FROM now() - min(created_at)) FROM outbox_events
		                   WHERE published_at IS NULL AND dead_at IS NULL), 0)::float8,
		        (SELECT count(*) FROM outbox_events WHERE dead_at IS NOT NULL)`).
		Scan(&st.pending, &ageSeconds, &st.dead)
	if err != nil {
		return stats{}, fmt.Errorf("count pending outbox events: %w", err)
	}
	st.oldestAge = time.Duration(ageSeconds * float64(time.Second))
	return st, nil
}

func (r *Relay) refreshMetrics(ctx context.Context) error {
	st, err := r.stats(ctx)
	if err != nil {
		return err
	}
	r.metrics.pending.Set(float64(st.pending))
	r.metrics.oldestAge.Set(st.oldestAge.Seconds())
	r.metrics.dead.Set(float64(st.dead))
	return nil
}

// truncate shortens s to at most n bytes and drops what Postgres rejects
// in text: invalid UTF-8 (such as a sequence split by the cut) and NUL.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
}
