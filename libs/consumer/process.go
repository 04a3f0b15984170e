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

const insertInbox = `INSERT INTO consumer_inbox (consumer, event_id, subject)
VALUES ($1, $2, $3)
ON CONFLICT (consumer, event_id) DO NOTHING`

// errAttemptsExhausted is the dead-letter reason for a message whose attempts
// all ended without an outcome, for example because the process crashed.
var errAttemptsExhausted = errors.New("no attempt finished within max deliveries")

// process handles one delivery and acks, naks or dead-letters it. It never
// gives up half-way when runCtx is cancelled: the handler keeps AckWait.
func (r *Runner) process(runCtx context.Context, jm jetstream.Msg) {
	base := context.WithoutCancel(runCtx)
	msg, err := newMessage(jm)
	if err != nil {
		r.logger.ErrorContext(base, "drop malformed delivery", slog.String("subject", jm.Subject()), slog.Any("error", err))
		if err := jm.Term(); err != nil {
			r.logger.WarnContext(base, "terminate malformed delivery", slog.Any("error", err))
		}
		return
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

	if msg.NumDelivered > r.maxDeliver {
		r.deadLetter(ctx, logger, jm, msg, errAttemptsExhausted)
		return
	}

	hctx, cancel := context.WithTimeout(ctx, r.cfg.AckWait)
	duplicate, err := r.handle(hctx, msg)
	cancel()
	switch {
	case err == nil && duplicate:
		span.SetAttributes(attribute.Bool("storefront.duplicate", true))
		r.ack(ctx, logger, jm)
		r.metrics.count(outcomeDuplicate)
		logger.DebugContext(ctx, "skipped duplicate event")
	case err == nil:
		if r.opts.skipAck == nil || !r.opts.skipAck(msg) {
			r.ack(ctx, logger, jm)
		}
		r.metrics.count(outcomeProcessed)
		logger.DebugContext(ctx, "processed event")
	case isPermanent(err) || msg.NumDelivered >= r.maxDeliver:
		span.RecordError(err)
		span.SetStatus(codes.Error, "dead-lettered")
		r.deadLetter(ctx, logger, jm, msg, err)
	default:
		span.RecordError(err)
		span.SetStatus(codes.Error, "retry")
		r.retry(ctx, logger, jm, msg, err)
	}
}

// release gives back a message fetched after shutdown began. Its last
// delivery is processed instead, because a nak would exhaust its attempts
// without one having run.
func (r *Runner) release(ctx context.Context, jm jetstream.Msg) {
	meta, err := jm.Metadata()
	if err != nil || meta.NumDelivered >= r.maxDeliver {
		r.process(ctx, jm)
		return
	}
	if err := jm.Nak(); err != nil {
		r.logger.WarnContext(ctx, "release message at shutdown; it will be redelivered after ack wait",
			slog.String("subject", jm.Subject()), slog.Any("error", err))
	}
}

// newMessage reads a delivery into a Message.
func newMessage(jm jetstream.Msg) (Message, error) {
	meta, err := jm.Metadata()
	if err != nil {
		return Message{}, fmt.Errorf("read metadata: %w", err)
	}
	h := jm.Headers()
	return Message{
		ID:           messageID(h, meta.Stream, meta.Sequence.Stream),
		Subject:      jm.Subject(),
		Type:         h.Get(broker.HeaderType),
		Data:         jm.Data(),
		Headers:      h,
		NumDelivered: meta.NumDelivered,
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

// handle records msg in the inbox and runs the handler, in one transaction.
// It reports a duplicate, without running the handler, when the inbox already
// has the event.
func (r *Runner) handle(ctx context.Context, msg Message) (duplicate bool, err error) {
	err = postgres.InTx(ctx, r.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, insertInbox, r.cfg.Durable, msg.ID, msg.Subject)
		if err != nil {
			return fmt.Errorf("record event %s in inbox: %w", msg.ID, err)
		}
		if tag.RowsAffected() == 0 {
			duplicate = true
			return nil
		}
		return r.callHandler(ctx, tx, msg)
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

// retry naks jm with the backoff for this attempt.
func (r *Runner) retry(ctx context.Context, logger *slog.Logger, jm jetstream.Msg, msg Message, cause error) {
	delay := r.cfg.backoffAfter(msg.NumDelivered)
	r.metrics.count(outcomeRetried)
	logger.WarnContext(ctx, "event failed; will retry", slog.Duration("delay", delay), slog.Any("error", cause))
	if err := jm.NakWithDelay(delay); err != nil {
		logger.WarnContext(ctx, "nak message; it will be redelivered after ack wait", slog.Any("error", err))
	}
}

// deadLetter copies msg to the dead-letter stream and terminates it. When the
// copy cannot be stored it naks instead, so a later delivery tries again.
func (r *Runner) deadLetter(ctx context.Context, logger *slog.Logger, jm jetstream.Msg, msg Message, cause error) {
	out := &nats.Msg{
		Subject: r.dlqSubject,
		Header:  deadLetterHeaders(msg, r.cfg.Durable, cause),
		Data:    msg.Data,
	}
	pctx, cancel := context.WithTimeout(ctx, ackTimeout)
	_, err := r.js.PublishMsg(pctx, out)
	cancel()
	if err != nil {
		err = fmt.Errorf("dead-letter event %s to %s: %w", msg.ID, r.dlqSubject, err)
		if msg.NumDelivered > r.maxDeliver {
			// No delivery is left: the message stays on its stream, unacked.
			logger.ErrorContext(ctx, "event stranded: out of deliveries and not dead-lettered",
				slog.Any("error", err), slog.Any("cause", cause))
			return
		}
		r.retry(ctx, logger, jm, msg, err)
		return
	}
	r.metrics.count(outcomeDeadLettered)
	r.metrics.deadLetters.Inc()
	logger.ErrorContext(ctx, "event dead-lettered", slog.String("dead_letter_subject", r.dlqSubject), slog.Any("error", cause))
	if err := jm.TermWithReason("dead-lettered"); err != nil {
		logger.WarnContext(ctx, "terminate dead-lettered message; a redelivery will dead-letter it again", slog.Any("error", err))
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
