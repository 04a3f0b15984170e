package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"time"
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

// PruneInbox deletes this consumer's inbox rows older than the configured
// retention, in bounded batches, and returns how many went. Run calls it
// periodically; an event redelivered after its row is gone would be handled
// again, so the retention must outlast every redelivery.
func (r *Runner) PruneInbox(ctx context.Context) (int64, error) {
	cutoff := time.Now().Add(-r.cfg.InboxRetention)
	var total int64
	for range pruneMaxBatches {
		tag, err := r.pool.Exec(ctx, `
			DELETE FROM consumer_inbox
			WHERE consumer = $1 AND event_id IN (
				SELECT event_id FROM consumer_inbox
				WHERE consumer = $1 AND processed_at < $2
				ORDER BY processed_at
				LIMIT $3)`,
			r.cfg.Durable, cutoff, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune inbox of %s: %w", r.cfg.Durable, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			break
		}
	}
	return total, nil
}

// pruneLoop prunes the inbox now and then every interval until ctx is done.
func (r *Runner) pruneLoop(ctx context.Context) {
	ticker := time.NewTicker(r.opts.pruneInterval)
	defer ticker.Stop()
	for {
		n, err := r.PruneInbox(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.logger.WarnContext(ctx, "prune inbox", slog.Any("error", err))
		case n > 0:
			r.logger.InfoContext(ctx, "pruned inbox", slog.Int64("rows", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
