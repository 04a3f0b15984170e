// Package jobs runs the bounded background work every service has: a pass
// that deletes or expires rows batch by batch (Drain), repeated on a timer
// (Every). Both stop with their context, so shutdown never waits on them
// longer than one batch.
package jobs

import (
	"context"
	"log/slog"
	"time"
)

// Drain calls step with limit until a call handles fewer than limit items,
// returns an error, or maxBatches calls have run, and returns how many items
// the calls handled in all. The cap keeps one pass bounded when rows arrive
// as fast as they are removed; the next pass takes the rest.
func Drain(ctx context.Context, limit, maxBatches int, step func(ctx context.Context, limit int) (int, error)) (int, error) {
	total := 0
	for range maxBatches {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := step(ctx, limit)
		total += n
		if err != nil || n < limit {
			return total, err
		}
	}
	return total, nil
}

// Pass is one run of a periodic job; it returns how many items it handled.
type Pass func(ctx context.Context) (int, error)

// Every runs pass once per interval until ctx is done; with now set it also
// runs it at once. A failed pass is logged at WARN and the next one runs on
// schedule; a pass that handled items is logged at INFO. Errors after ctx is
// done are shutdown noise and are not logged.
func Every(ctx context.Context, logger *slog.Logger, name string, interval time.Duration, now bool, pass Pass) {
	every(ctx, logger, name, interval, now, slog.LevelInfo, pass)
}

// Often is Every for a job that runs every second or so and handles items
// on most passes under load: its passes are logged at DEBUG, and only a
// failure at WARN.
func Often(ctx context.Context, logger *slog.Logger, name string, interval time.Duration, pass Pass) {
	every(ctx, logger, name, interval, false, slog.LevelDebug, pass)
}

func every(ctx context.Context, logger *slog.Logger, name string, interval time.Duration, now bool, handled slog.Level, pass Pass) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	if !now {
		if !wait(ctx, ticker.C) {
			return
		}
	}
	for {
		n, err := pass(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.WarnContext(ctx, name, slog.Any("error", err), slog.Int("items", n))
		case err == nil && n > 0:
			logger.Log(ctx, handled, name, slog.Int("items", n))
		}
		if !wait(ctx, ticker.C) {
			return
		}
	}
}

// wait blocks until the next tick (true) or until ctx is done (false). When
// both are ready select picks either, so a tick also checks ctx: no pass
// starts after the context is done.
func wait(ctx context.Context, tick <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-tick:
		return ctx.Err() == nil
	}
}
