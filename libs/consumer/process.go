package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/postgres"
)

// HeaderEventID carries the event id where Nats-Msg-Id cannot: on a
// dead-lettered copy, whose Nats-Msg-Id is "<durable>:<Nats-Msg-Id of the
// delivery>" so that a repeated dead-letter of the same delivery is dropped
// by the stream, and on a re-driven message, whose Nats-Msg-Id is
// "<event id>:redrive:<dead-letter sequence>". When present it is the
// Message.ID, so a re-driven event keeps its inbox identity.
const HeaderEventID = "Storefront-Event-Id"

// maxReasonLen bounds the dead-letter reason header.
const maxReasonLen = 1024

const insertInbox = `INSERT INTO consumer_inbox (consumer, event_id, subject, stream_seq)
VALUES ($1, $2, $3, $4)
ON CONFLICT (consumer, event_id) DO NOTHING`

// errAttemptsExhausted is the dead-letter reason for a message whose attempts
// all ended without an outcome, for example because the process crashed.
var errAttemptsExhausted = errors.New("no attempt finished within max deliveries")

// delivery is one delivered message: the Message the handler sees and its
// place on the stream.
type delivery struct {
	msg Message
	// seq is the message's stream sequence.
	seq uint64
	// foreign is set on an event re-driven to another durable consumer.
	foreign bool
}

// process handles one delivery and acks, naks or dead-letters it. It never
// gives up half-way when runCtx is cancelled: the handler keeps AckWait.
// It returns a non-nil outage when the database did not answer: the message
// is handed back without using up an attempt, and the caller pauses.
//
// A first delivery runs at once and is counted only if the handler fails.
// A redelivery is counted before its handler runs, so that attempts that
// never finish (a crash, a hang past AckWait) still use up the budget.
func (r *Runner) process(runCtx context.Context, jm jetstream.Msg) (outage error) {
	base := context.WithoutCancel(runCtx)
	d, err := newDelivery(jm, r.cfg.Durable)
	if err != nil {
		r.logger.ErrorContext(base, "drop malformed delivery", slog.String("subject", jm.Subject()), slog.Any("error", err))
		if err := jm.Term(); err != nil {
			r.logger.WarnContext(base, "terminate malformed delivery", slog.Any("error", err))
		}
		return nil
	}
	msg := d.msg
	if d.foreign {
		// Re-driven to another consumer of the subject; not ours to handle.
		r.ack(base, r.logger, jm)
		r.metrics.count(outcomeSkipped)
		return nil
	}

	ctx := r.propagator.Extract(base, broker.HeaderCarrier(jm.Headers()))
	ctx, span := r.tracer.Start(ctx, "process "+msg.Subject,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String("nats"),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(msg.Subject),
			semconv.MessagingConsumerGroupName(r.cfg.Durable),
			semconv.MessagingMessageID(msg.ID),
			semconv.MessagingMessageBodySize(len(msg.Data)),
			attribute.String("storefront.event.type", msg.Type),
		))
	defer span.End()
	logger := r.logger.With(
		slog.String("event_id", msg.ID),
		slog.String("subject", msg.Subject),
		slog.String("event_type", msg.Type),
		slog.Uint64("delivery", msg.NumDelivered),
	)

	// charged is the attempt count including this attempt, when it was
	// counted before the handler ran.
	var charged int64
	if msg.NumDelivered > 1 {
		b, err := r.charge(ctx, d)
		if err != nil {
			return r.uncounted(ctx, logger, jm, d, err)
		}
		switch {
		case b.deadReason != "":
			span.SetStatus(codes.Error, "dead-lettered")
			r.deadLetter(ctx, logger, jm, d, b.attempts, errors.New(b.deadReason))
			return nil
		case b.attempts > r.maxDeliver:
			span.SetStatus(codes.Error, "dead-lettered")
			r.deadLetter(ctx, logger, jm, d, b.attempts, errAttemptsExhausted)
			return nil
		}
		charged = b.attempts
	}

	hctx, cancel := context.WithTimeout(ctx, r.cfg.AckWait)
	duplicate, err := r.handle(hctx, d)
	cancel()
	switch {
	case err == nil && duplicate:
		span.SetAttributes(attribute.Bool("storefront.duplicate", true))
		r.ack(ctx, logger, jm)
		r.metrics.count(outcomeDuplicate)
		logger.DebugContext(ctx, "skipped duplicate event")
		return nil
	case err == nil:
		if r.opts.skipAck == nil || !r.opts.skipAck(msg) {
			r.ack(ctx, logger, jm)
		}
		r.metrics.count(outcomeProcessed)
		logger.DebugContext(ctx, "processed event")
		return nil
	}

	span.RecordError(err)
	countable, outage := r.diagnose(ctx, err)
	if !countable {
		span.SetStatus(codes.Error, "deferred")
		return r.handBack(ctx, logger, jm, d, charged > 0, err, outage)
	}
	attempts := charged
	if attempts == 0 && !isPermanent(err) {
		b, cerr := r.charge(ctx, d)
		if cerr != nil {
			return r.uncounted(ctx, logger, jm, d, errors.Join(err, cerr))
		}
		attempts = b.attempts
	}
	if isPermanent(err) || attempts >= r.maxDeliver {
		span.SetStatus(codes.Error, "dead-lettered")
		r.deadLetter(ctx, logger, jm, d, attempts, err)
		return nil
	}
	span.SetStatus(codes.Error, "retry")
	r.retry(ctx, logger, jm, attempts, err)
	return nil
}

// uncounted hands back a delivery whose attempt could not be counted: the
// database failed, so the attempt does not count either way. It is an
// outage when a ping fails too.
func (r *Runner) uncounted(ctx context.Context, logger *slog.Logger, jm jetstream.Msg, d delivery, err error) (outage error) {
	if perr := r.ping(ctx); perr != nil {
		return r.handBack(ctx, logger, jm, d, false, err, fmt.Errorf("%w; ping: %w", err, perr))
	}
	return r.handBack(ctx, logger, jm, d, false, err, nil)
}

// handBack hands jm back with a short delay, without using up an attempt: the
// database, not the handler, failed. A charge already made for the attempt
// is refunded, at once if the database answers, else once it does.
func (r *Runner) handBack(ctx context.Context, logger *slog.Logger, jm jetstream.Msg, d delivery, charged bool, cause, outage error) error {
	if charged {
		r.refundLater(d)
		if outage == nil {
			r.settleRefunds(ctx)
		}
	}
	r.metrics.count(outcomeDeferred)
	if outage != nil {
		logger.DebugContext(ctx, "event deferred: database unreachable", slog.Any("error", cause))
	} else {
		logger.WarnContext(ctx, "event deferred: the database failed, not the handler; the attempt does not count", slog.Any("error", cause))
	}
	r.deferMsg(ctx, logger, jm)
	return outage
}

// deferMsg naks jm with deferDelay. It does not count: the runner keeps
// its own count of attempts.
func (r *Runner) deferMsg(ctx context.Context, logger *slog.Logger, jm jetstream.Msg) {
	if err := jm.NakWithDelay(deferDelay); err != nil {
		logger.WarnContext(ctx, "nak deferred message; it will be redelivered after ack wait", slog.Any("error", err))
	}
}

// release gives back a message fetched after shutdown began. Deliveries are
// not the budget, so a nak costs it nothing.
func (r *Runner) release(ctx context.Context, jm jetstream.Msg) {
	if err := jm.Nak(); err != nil {
		r.logger.WarnContext(ctx, "release message at shutdown; it will be redelivered after ack wait",
			slog.String("subject", jm.Subject()), slog.Any("error", err))
	}
}

// postpone hands back a message fetched in the same batch as the one that
// found the database unreachable: it would fail the same way.
func (r *Runner) postpone(ctx context.Context, jm jetstream.Msg) {
	r.metrics.count(outcomeDeferred)
	r.deferMsg(ctx, r.logger.With(slog.String("subject", jm.Subject())), jm)
}

// newDelivery reads a delivery. A message on a redrive subject is the
// handler's with its original subject when it is addressed to durable, and
// foreign otherwise.
func newDelivery(jm jetstream.Msg, durable string) (delivery, error) {
	meta, err := jm.Metadata()
	if err != nil {
		return delivery{}, fmt.Errorf("read metadata: %w", err)
	}
	h := jm.Headers()
	subject := jm.Subject()
	foreign := false
	if target, original, ok := parseRedrive(subject); ok {
		subject, foreign = original, target != durable
	}
	return delivery{
		msg: Message{
			ID:           messageID(h, meta.Stream, meta.Sequence.Stream),
			Subject:      subject,
			Type:         h.Get(broker.HeaderType),
			Data:         jm.Data(),
			Headers:      h,
			NumDelivered: meta.NumDelivered,
		},
		seq:     meta.Sequence.Stream,
		foreign: foreign,
	}, nil
}

// messageID picks a delivery's event id: Storefront-Event-Id, else
// Nats-Msg-Id, else "<stream>:<stream sequence>".
func messageID(h nats.Header, stream string, seq uint64) string {
	if id := h.Get(HeaderEventID); id != "" {
		return id
	}
	if id := h.Get(broker.HeaderMsgID); id != "" {
		return id
	}
	return stream + ":" + strconv.FormatUint(seq, 10)
}

// handle records d in the inbox and runs the handler, in one transaction.
// It reports a duplicate, without running the handler, when the inbox already
// has the event. On success it also drops the event's attempt count, which
// only a redelivery may have.
func (r *Runner) handle(ctx context.Context, d delivery) (duplicate bool, err error) {
	msg := d.msg
	err = postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, insertInbox, r.cfg.Durable, msg.ID, msg.Subject, seqArg(d.seq))
		if err != nil {
			return fmt.Errorf("record event %s in inbox: %w", msg.ID, err)
		}
		if tag.RowsAffected() == 0 {
			duplicate = true
		} else if err := r.callHandler(ctx, tx, msg); err != nil {
			return err
		}
		if msg.NumDelivered > 1 {
			if _, err := tx.Exec(ctx, forgetAttempts, r.cfg.Durable, msg.ID); err != nil {
				return fmt.Errorf("forget attempts of event %s: %w", msg.ID, err)
			}
		}
		return nil
	})
	return duplicate, err
}

// callHandler runs the handler and turns a panic into an error, so one bad
// message is retried and dead-lettered instead of killing the process.
func (r *Runner) callHandler(ctx context.Context, tx pgx.Tx, msg Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	if err := r.handler(postgres.WithTx(ctx, tx), msg); err != nil {
		return fmt.Errorf("handle event %s: %w", msg.ID, err)
	}
	return nil
}

// ack acknowledges jm and waits for the server to confirm, so that a drained
// runner leaves nothing pending. A lost ack is harmless: the redelivery is a
// duplicate.
func (r *Runner) ack(ctx context.Context, logger *slog.Logger, jm jetstream.Msg) {
	actx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := jm.DoubleAck(actx); err != nil {
		logger.WarnContext(ctx, "ack message; its redelivery will be skipped as a duplicate", slog.Any("error", err))
	}
}

// retry naks jm with the backoff that follows its attempts-th attempt.
func (r *Runner) retry(ctx context.Context, logger *slog.Logger, jm jetstream.Msg, attempts int64, cause error) {
	delay := r.cfg.backoffAfter(attempts)
	r.metrics.count(outcomeRetried)
	logger.WarnContext(ctx, "event failed; will retry", slog.Int64("attempt", attempts), slog.Duration("delay", delay), slog.Any("error", cause))
	if err := jm.NakWithDelay(delay); err != nil {
		logger.WarnContext(ctx, "nak message; it will be redelivered after ack wait", slog.Any("error", err))
	}
}

// deadLetter copies d to the dead-letter stream and terminates it. The
// decision is recorded first, so that a later delivery of d only publishes
// again. When the copy cannot be stored, d is not given up: it is nak'ed
// with the backoff and the next delivery tries again, for as long as it
// takes; storefront_consumer_deadletter_publish_failures_total counts the
// failures.
func (r *Runner) deadLetter(ctx context.Context, logger *slog.Logger, jm jetstream.Msg, d delivery, attempts int64, cause error) {
	if err := r.markDead(ctx, d, attempts, cause); err != nil {
		logger.WarnContext(ctx, "record dead-letter decision; a redelivery may run the handler again", slog.Any("error", err))
	}
	msg := d.msg
	out := &nats.Msg{
		Subject: r.dlqSubject,
		Header:  deadLetterHeaders(msg, r.cfg.Durable, cause),
		Data:    msg.Data,
	}
	pctx, cancel := context.WithTimeout(ctx, ackTimeout)
	_, err := r.js.PublishMsg(pctx, out)
	cancel()
	if err != nil {
		r.metrics.deadLetterFailures.Inc()
		delay := r.cfg.backoffAfter(attempts)
		logger.ErrorContext(ctx, "dead-letter event; will try again", slog.String("dead_letter_subject", r.dlqSubject),
			slog.Duration("delay", delay), slog.Any("error", err), slog.Any("cause", cause))
		if err := jm.NakWithDelay(delay); err != nil {
			logger.WarnContext(ctx, "nak message; it will be redelivered after ack wait", slog.Any("error", err))
		}
		return
	}
	r.metrics.count(outcomeDeadLettered)
	r.metrics.deadLetters.Inc()
	logger.ErrorContext(ctx, "event dead-lettered", slog.String("dead_letter_subject", r.dlqSubject), slog.Any("error", cause))
	if err := jm.TermWithReason("dead-lettered"); err != nil {
		logger.WarnContext(ctx, "terminate dead-lettered message; its redelivery will publish the dead letter again", slog.Any("error", err))
	}
}

// deadLetterHeaders builds the headers of the dead-letter copy of msg: the
// original ones, except NATS server directives (Nats-*), plus why, where
// from and by whom. Its Nats-Msg-Id derives from the delivery's own, not
// from the event id: a re-driven copy that fails again must not be dropped
// as a duplicate of the dead letter it came from.
func deadLetterHeaders(msg Message, durable string, cause error) nats.Header {
	h := make(nats.Header, len(msg.Headers)+6)
	for k, v := range msg.Headers {
		if strings.HasPrefix(strings.ToLower(k), "nats-") {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	dedupKey := msg.Headers.Get(broker.HeaderMsgID)
	if dedupKey == "" {
		dedupKey = msg.ID
	}
	h.Set(broker.HeaderMsgID, durable+":"+dedupKey)
	h.Set(HeaderEventID, msg.ID)
	h.Set(broker.HeaderOriginalSubject, msg.Subject)
	h.Set(broker.HeaderConsumer, durable)
	h.Set(broker.HeaderDeliveryCount, strconv.FormatUint(msg.NumDelivered, 10))
	h.Set(broker.HeaderDeadLetterReason, headerValue(cause.Error(), maxReasonLen))
	return h
}

// headerValue makes s safe as a NATS header value: valid UTF-8, one line,
// at most limit bytes.
func headerValue(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= limit {
		return s
	}
	s = s[:limit]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
