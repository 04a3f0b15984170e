package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/storefront-go/storefront/libs/postgres"
)

const (
	// DefaultProbeTimeout bounds one ping of the database, and each of the
	// runner's own bookkeeping statements.
	DefaultProbeTimeout = 5 * time.Second
	// probeMinDelay and probeMaxDelay space out the pings of a paused runner.
	probeMinDelay = time.Second
	probeMaxDelay = 15 * time.Second
	// deferDelay is how long a message handed back during an outage waits
	// before JetStream offers it again (to a replica that is not paused).
	deferDelay = time.Second
)

// failure sorts a failed attempt by who is to answer for it.
type failure int

const (
	// handlerFailure is the handler's own: it counts toward MaxDeliver.
	handlerFailure failure = iota
	// connectionFailure is the database connection failing (refused,
	// dropped, shut down): it never counts.
	connectionFailure
	// unclearFailure is a timeout or a network error, which a slow handler
	// or a call to another service can cause as well as an unreachable
	// database: a ping decides.
	unclearFailure
)

// classify sorts err. It looks at what pgx reports (PgError codes,
// ConnectError, a closed connection) rather than at messages.
func classify(err error) failure {
	if isPermanent(err) {
		return handlerFailure
	}
	if postgres.ConnectionFailed(err) {
		return connectionFailure
	}
	if _, ok := errors.AsType[*pgconn.PgError](err); ok {
		// The server answered: a constraint, a deadlock, a bug.
		return handlerFailure
	}
	if _, ok := errors.AsType[net.Error](err); ok ||
		errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return unclearFailure
	}
	return handlerFailure
}

// ping checks, within the probe timeout, that the database answers.
func (r *Runner) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.dbTimeout)
	defer cancel()
	return r.pool.Ping(ctx)
}

// diagnose tells an outage from a failure of the handler's own: countable
// reports whether the attempt counts toward MaxDeliver, and outage is
// non-nil when the database does not answer a ping.
func (r *Runner) diagnose(ctx context.Context, err error) (countable bool, outage error) {
	kind := classify(err)
	if kind == handlerFailure {
		return true, nil
	}
	if perr := r.ping(ctx); perr != nil {
		return false, fmt.Errorf("%w; ping: %w", err, perr)
	}
	// The database answers: a dropped connection is still not the
	// handler's doing, a timeout is.
	return kind == unclearFailure, nil
}

// waitForDatabase pauses the runner until the database answers a ping or
// ctx is done, pinging with capped exponential backoff. Nothing is fetched
// meanwhile, so no delivery is spent on the outage. Attempts that the
// outage interrupted after they were counted are refunded on the way out.
func (r *Runner) waitForDatabase(ctx context.Context, cause error) {
	r.metrics.paused.Set(1)
	defer r.metrics.paused.Set(0)
	since := time.Now()
	r.logger.WarnContext(ctx, "database unreachable; consumer paused", slog.Any("error", cause))
	delay := r.opts.probeMinDelay
	for probes := 1; ; probes++ {
		if !sleep(ctx, delay) {
			r.logger.InfoContext(ctx, "consumer stopped while paused", slog.Duration("paused_for", time.Since(since)))
			return
		}
		err := r.ping(ctx)
		if err == nil {
			break
		}
		r.logger.DebugContext(ctx, "database still unreachable", slog.Int("probes", probes), slog.Any("error", err))
		delay = min(2*delay, r.opts.probeMaxDelay)
	}
	r.logger.InfoContext(ctx, "database reachable again; consumer resumed", slog.Duration("paused_for", time.Since(since)))
	r.settleRefunds(ctx)
}
