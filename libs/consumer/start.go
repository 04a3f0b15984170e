package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// clockSkewMargin covers a difference between the NATS server's clock,
// which stamps messages, and Postgres's, which stamps inbox rows, when a
// consumer starts by time.
const clockSkewMargin = time.Minute

// prunedHistory is what pruning made a consumer's inbox forget
// (consumer_inbox_pruned): the highest stream sequence among the deleted
// rows that had one, and the newest processed_at among them all.
type prunedHistory struct {
	seq         uint64 // 0: no deleted row had a sequence
	processedAt time.Time
}

// startPosition is where a newly created durable consumer starts.
type startPosition struct {
	policy jetstream.DeliverPolicy
	seq    uint64
	time   time.Time
}

func (p startPosition) apply(cc *jetstream.ConsumerConfig) {
	cc.DeliverPolicy = p.policy
	cc.OptStartSeq = p.seq
	cc.OptStartTime = nil
	if p.policy == jetstream.DeliverByStartTimePolicy {
		t := p.time
		cc.OptStartTime = &t
	}
}

func (p startPosition) String() string {
	switch p.policy {
	case jetstream.DeliverByStartSequencePolicy:
		return fmt.Sprintf("stream sequence %d", p.seq)
	case jetstream.DeliverByStartTimePolicy:
		return "time " + p.time.UTC().Format(time.RFC3339)
	default:
		return "the start of the stream"
	}
}

// startAfter picks where a consumer starts so that it replays nothing its
// inbox has forgotten: the inbox recognises every event it still holds, so
// replaying those is harmless, but an event whose row was pruned would be
// handled a second time.
//
//   - Nothing pruned yet (pruned is nil): the whole stream.
//   - The stream is younger than the newest pruned row: it was recreated
//     since, and none of its events can have been pruned; the whole stream.
//   - Otherwise after the highest pruned stream sequence; no event at or
//     below it is delivered. An event below it still unhandled would be
//     skipped, but that takes one left unhandled for the whole inbox
//     retention while later ones were handled and pruned.
//   - Rows recorded before the inbox kept sequences carry none; while only
//     such rows were pruned, from the newest pruned processed_at (plus a
//     margin for clock skew): an event published later was handled later,
//     so its row is still there.
func startAfter(pruned *prunedHistory, streamCreated time.Time) startPosition {
	switch {
	case pruned == nil, streamCreated.After(pruned.processedAt):
		return startPosition{policy: jetstream.DeliverAllPolicy}
	case pruned.seq > 0:
		return startPosition{policy: jetstream.DeliverByStartSequencePolicy, seq: pruned.seq + 1}
	default:
		return startPosition{policy: jetstream.DeliverByStartTimePolicy, time: pruned.processedAt.Add(clockSkewMargin)}
	}
}

// startPosition reads where a new consumer of the durable starts.
func (r *Runner) startPosition(ctx context.Context) (startPosition, error) {
	dbctx, cancel := context.WithTimeout(ctx, r.opts.dbTimeout)
	defer cancel()
	var seq *int64
	var processedAt time.Time
	err := r.pool.QueryRow(dbctx, `SELECT stream_seq, processed_at FROM consumer_inbox_pruned WHERE consumer = $1`,
		r.cfg.Durable).Scan(&seq, &processedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return startAfter(nil, time.Time{}), nil
	}
	if err != nil {
		return startPosition{}, fmt.Errorf("read the inbox history of %s: %w", r.cfg.Durable, err)
	}
	pruned := &prunedHistory{processedAt: processedAt}
	if seq != nil && *seq > 0 {
		pruned.seq = uint64(*seq)
	}
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		return startPosition{}, fmt.Errorf("look up stream %s: %w", r.cfg.Stream, err)
	}
	return startAfter(pruned, stream.CachedInfo().Created), nil
}

// ensureConsumer creates the durable consumer, or updates it when it
// exists. An existing consumer keeps where it started (JetStream refuses to
// change that); a new one starts where startPosition says, so a consumer
// that was lost and is created again does not replay history its inbox has
// forgotten. A replica that loses the race to create it updates the winner's.
func (r *Runner) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	where := fmt.Sprintf("consumer %s on stream %s", r.cfg.Durable, r.cfg.Stream)
	for range 3 {
		cc := r.cfg.consumerConfig()
		cons, err := r.js.Consumer(ctx, r.cfg.Stream, r.cfg.Durable)
		if err == nil {
			old := cons.CachedInfo().Config
			cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
			cons, err = r.js.UpdateConsumer(ctx, r.cfg.Stream, cc)
			if errors.Is(err, jetstream.ErrConsumerDoesNotExist) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("update %s: %w", where, err)
			}
			return cons, nil
		}
		if errors.Is(err, jetstream.ErrNotPullConsumer) {
			// Not ours to take over; the server says why (setup gives up on
			// its rejection rather than retry).
			cons, err = r.js.UpdateConsumer(ctx, r.cfg.Stream, cc)
			if err != nil {
				return nil, fmt.Errorf("update %s: %w", where, err)
			}
			return cons, nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("look up %s: %w", where, err)
		}
		start, err := r.startPosition(ctx)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", where, err)
		}
		start.apply(&cc)
		cons, err = r.js.CreateConsumer(ctx, r.cfg.Stream, cc)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", where, err)
		}
		r.logger.InfoContext(ctx, "consumer created", slog.String("deliver_from", start.String()))
		return cons, nil
	}
	// Not an API error: setup retries it.
	return nil, fmt.Errorf("create %s: it kept appearing and disappearing", where)
}
