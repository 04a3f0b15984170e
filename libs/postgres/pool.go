package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config holds the pool settings read from the environment.
type Config struct {
	URL      string `env:"DATABASE_URL,required"`
	MaxConns int32  `env:"DATABASE_MAX_CONNS" envDefault:"10"`
	MinConns int32  `env:"DATABASE_MIN_CONNS" envDefault:"0"`
	// PublicMaxConns sizes a second pool for the reads that callers
	// without a token make (see Lanes), so a flood of public reads waits on
	// its own connections and never takes those that writes, reservations,
	// consumers and the outbox need. 0 runs them on the main pool.
	PublicMaxConns int32         `env:"DATABASE_PUBLIC_MAX_CONNS" envDefault:"4"`
	ConnectTimeout time.Duration `env:"DATABASE_CONNECT_TIMEOUT" envDefault:"5s"`
	// StatementTimeout and LockTimeout make the server give up on one
	// statement, or on waiting for a lock, so a busy or locked database
	// answers UNAVAILABLE within the RPC ceilings instead of holding calls.
	// Migrations run without them. 0 leaves the server's setting.
	StatementTimeout time.Duration `env:"DATABASE_STATEMENT_TIMEOUT" envDefault:"8s"`
	LockTimeout      time.Duration `env:"DATABASE_LOCK_TIMEOUT" envDefault:"4s"`
}

// NewPool opens a pool with cfg's limits and pings it, so a bad URL or an
// unreachable server fails at start rather than on the first request.
func NewPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The URL may hold a password; pgx's error already redacts it.
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	if cfg.MinConns > 0 {
		pcfg.MinConns = cfg.MinConns
	}
	if cfg.ConnectTimeout > 0 {
		pcfg.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	}
	if cfg.StatementTimeout > 0 {
		pcfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	}
	if cfg.LockTimeout > 0 {
		pcfg.ConnConfig.RuntimeParams["lock_timeout"] = strconv.FormatInt(cfg.LockTimeout.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	pingCtx := ctx
	if cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		pingCtx, cancel = context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
	}
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database %s/%s: %w", pcfg.ConnConfig.Host, pcfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// Lanes picks the pool a read runs on: Public for the calls that Anonymous
// says come from a caller without a token, Main for everything else
// (authenticated callers, and the service's own consumers and jobs).
// Writes always use Main.
type Lanes struct {
	Main   *pgxpool.Pool
	Public *pgxpool.Pool
	// Anonymous reports whether ctx is a stranger's call; nil means never.
	Anonymous func(context.Context) bool
}

// Reader returns the pool for a read made under ctx.
func (l Lanes) Reader(ctx context.Context) *pgxpool.Pool {
	if l.Public != nil && l.Anonymous != nil && l.Anonymous(ctx) {
		return l.Public
	}
	return l.Main
}

// NewPublicPool opens the pool of the public lane, with cfg's settings and
// PublicMaxConns connections, or returns nil when PublicMaxConns is 0.
func NewPublicPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if cfg.PublicMaxConns <= 0 {
		return nil, nil //nolint:nilnil // no public lane is a valid answer
	}
	cfg.MaxConns, cfg.MinConns = cfg.PublicMaxConns, 0
	return NewPool(ctx, cfg)
}
