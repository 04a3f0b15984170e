package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/storefront-go/storefront/libs/jobs"
)

const (
	// DefaultInboxRetention keeps inbox rows for a week: far longer than any
	// redelivery (MaxDeliver attempts of AckWait plus backoff) or a replay
	// within a stream's duplicate window.
	DefaultInboxRetention = 7 * 24 * time.Hour
	// pruneInterval is how often a runner prunes its inbox rows.
	pruneInterval = time.Hour
	// pruneBatch and pruneMaxBatches bound one pruning pass.
	pruneBatch      = 1000
	pruneMaxBatches = 100
)

// pruneInbox deletes one batch of a consumer's inbox rows processed before
// the cutoff and, in the same statement, records what they were in
// consumer_inbox_pruned, so that a consumer created again starts after
// them (see startAfter). It returns how many rows went.
const pruneInbox = `WITH gone AS (
    DELETE FROM consumer_inbox
    WHERE consumer = $1 AND event_id IN (
        SELECT event_id FROM consumer_inbox
        WHERE consumer = $1 AND processed_at < $2
        ORDER BY processed_at
        LIMIT $3)
    RETURNING stream_seq, processed_at
), remembered AS (
    INSERT INTO consumer_inbox_pruned AS p (consumer, stream_seq, processed_at)
    SELECT $1, max(stream_seq), max(processed_at) FROM gone HAVING count(*) > 0
    ON CONFLICT (consumer) DO UPDATE SET
        stream_seq = greatest(p.stream_seq, EXCLUDED.stream_seq),
        processed_at = greatest(p.processed_at, EXCLUDED.processed_at)
)
SELECT count(*) FROM gone`

// pruneAttempts deletes one batch of a consumer's attempt counts that
// have not changed since the cutoff.
const pruneAttempts = `DELETE FROM consumer_attempts
WHERE consumer = $1 AND event_id IN (
    SELECT event_id FROM consumer_attempts
    WHERE consumer = $1 AND updated_at < $2
    ORDER BY updated_at
    LIMIT $3)`

// PruneInbox deletes this consumer's inbox rows older than the configured
// retention, in bounded batches, and returns how many went. Run calls it
// periodically; an event redelivered after its row is gone would be handled
// again, so the retention must outlast every redelivery. The highest stream
// sequence pruned is remembered: a consumer created again after it was lost
// starts after it. Attempt counts untouched for as long go too.
func (r *Runner) PruneInbox(ctx context.Context) (int64, error) {
	cutoff := time.Now().Add(-r.cfg.InboxRetention)
	n, err := jobs.Drain(ctx, pruneBatch, pruneMaxBatches, func(ctx context.Context, limit int) (int, error) {
		var gone int
		if err := r.pool.QueryRow(ctx, pruneInbox, r.cfg.Durable, cutoff, limit).Scan(&gone); err != nil {
			return 0, fmt.Errorf("prune inbox of %s: %w", r.cfg.Durable, err)
		}
		return gone, nil
	})
	if err != nil {
		return int64(n), err
	}
	_, err = jobs.Drain(ctx, pruneBatch, pruneMaxBatches, func(ctx context.Context, limit int) (int, error) {
		tag, err := r.pool.Exec(ctx, pruneAttempts, r.cfg.Durable, cutoff, limit)
		if err != nil {
			return 0, fmt.Errorf("prune attempt counts of %s: %w", r.cfg.Durable, err)
		}
		return int(tag.RowsAffected()), nil
	})
	return int64(n), err
}

// pruneLoop prunes the inbox now and then every interval until ctx is done.
func (r *Runner) pruneLoop(ctx context.Context) {
	jobs.Every(ctx, r.logger, "prune inbox", r.opts.pruneInterval, true, func(ctx context.Context) (int, error) {
		n, err := r.PruneInbox(ctx)
		return int(n), err
	})
}
