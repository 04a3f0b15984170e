package consumer

import (
	"context"
	"fmt"
	"log/slog"
)

// The delivery budget lives in consumer_attempts, one row per event that
// failed or was redelivered, so every replica and every restart sees the
// same count. JetStream's own delivery count cannot serve: it also counts
// the deliveries handed back during a database outage.

// chargeAttempt counts one attempt and returns the count. A row left by
// another copy of the event (a re-driven one has a stream sequence of its
// own) starts again at one.
const chargeAttempt = `INSERT INTO consumer_attempts (consumer, event_id, stream_seq, attempts)
VALUES ($1, $2, $3, 1)
ON CONFLICT (consumer, event_id) DO UPDATE SET
    attempts = CASE WHEN consumer_attempts.stream_seq = EXCLUDED.stream_seq
        THEN consumer_attempts.attempts + 1 ELSE 1 END,
    dead_reason = CASE WHEN consumer_attempts.stream_seq = EXCLUDED.stream_seq
        THEN consumer_attempts.dead_reason END,
    stream_seq = EXCLUDED.stream_seq,
    updated_at = now()
RETURNING attempts, coalesce(dead_reason, '')`

// refundAttempt takes back a charge for an attempt that the database's
// outage, not the handler, ended.
const refundAttempt = `UPDATE consumer_attempts SET attempts = attempts - 1, updated_at = now()
WHERE consumer = $1 AND event_id = $2 AND stream_seq = $3 AND attempts > 0 AND dead_reason IS NULL`

// markDead records that the event is to be dead-lettered: a later delivery
// of it (the dead-letter publish failed, or its Term was lost) only
// publishes the dead letter again.
const markDead = `INSERT INTO consumer_attempts (consumer, event_id, stream_seq, attempts, dead_reason)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (consumer, event_id) DO UPDATE SET
    attempts = greatest(consumer_attempts.attempts, EXCLUDED.attempts),
    dead_reason = EXCLUDED.dead_reason,
    stream_seq = EXCLUDED.stream_seq,
    updated_at = now()`

// forgetAttempts drops an event's count once the handler succeeded.
const forgetAttempts = `DELETE FROM consumer_attempts WHERE consumer = $1 AND event_id = $2`

// budget is an event's count of attempts and, when the runner already
// decided to dead-letter it, why.
type budget struct {
	attempts   int64
	deadReason string
}

// attemptKey names one copy of an event.
type attemptKey struct {
	eventID string
	seq     uint64
}

// charge counts one attempt of d.
func (r *Runner) charge(ctx context.Context, d delivery) (budget, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.dbTimeout)
	defer cancel()
	var b budget
	if err := r.pool.QueryRow(ctx, chargeAttempt, r.cfg.Durable, d.msg.ID, seqArg(d.seq)).Scan(&b.attempts, &b.deadReason); err != nil {
		return budget{}, fmt.Errorf("count attempt of event %s: %w", d.msg.ID, err)
	}
	return b, nil
}

// refund takes back the charge of key's attempt.
func (r *Runner) refund(ctx context.Context, key attemptKey) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.dbTimeout)
	defer cancel()
	if _, err := r.pool.Exec(ctx, refundAttempt, r.cfg.Durable, key.eventID, seqArg(key.seq)); err != nil {
		return fmt.Errorf("refund attempt of event %s: %w", key.eventID, err)
	}
	return nil
}

// refundLater queues the refund of a charged attempt for when the database
// answers again.
func (r *Runner) refundLater(d delivery) {
	r.refunds[attemptKey{eventID: d.msg.ID, seq: d.seq}]++
}

// settleRefunds applies the queued refunds; those that fail stay queued.
func (r *Runner) settleRefunds(ctx context.Context) {
	for key, n := range r.refunds {
		for ; n > 0; n-- {
			if err := r.refund(ctx, key); err != nil {
				r.logger.WarnContext(ctx, "refund an attempt the database outage ended; will try again", slog.Any("error", err))
				r.refunds[key] = n
				return
			}
		}
		delete(r.refunds, key)
	}
}

// markDead records the decision to dead-letter d, for cause.
func (r *Runner) markDead(ctx context.Context, d delivery, attempts int64, cause error) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.dbTimeout)
	defer cancel()
	if _, err := r.pool.Exec(ctx, markDead, r.cfg.Durable, d.msg.ID, seqArg(d.seq),
		attempts, headerValue(cause.Error(), maxReasonLen)); err != nil {
		return fmt.Errorf("record dead-letter decision for event %s: %w", d.msg.ID, err)
	}
	return nil
}

// seqArg passes a stream sequence to Postgres, whose bigint is signed.
func seqArg(seq uint64) int64 {
	return int64(seq) //nolint:gosec // a stream sequence never reaches 2^63.
}
