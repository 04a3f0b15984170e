// Package postgres stores analytics in Postgres through pgx v5: raw events
// in daily partitions, per-product counters at minute and hour resolution
// updated in the transaction of each change, the facts that make every
// order count once, and the product dimension.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/analytics/internal/app"
)

// versionTable records which analytics migrations ran.
const versionTable = "analytics_schema_version"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies the service's own migrations; the host applies the
// outbox's and the consumer inbox's before them.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := libpg.MigrateDir(ctx, pool, migrations, "migrations", versionTable); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	return nil
}

// Store implements the app's storage over one set of pool lanes: writes on
// the main pool, statistics reads on their caller's lane.
type Store struct {
	pool  *pgxpool.Pool
	lanes libpg.Lanes
}

var (
	_ app.Events     = (*Store)(nil)
	_ app.Orders     = (*Store)(nil)
	_ app.Products   = (*Store)(nil)
	_ app.Stats      = (*Store)(nil)
	_ app.Partitions = (*Store)(nil)
)

// New returns a store over lanes.
func New(lanes libpg.Lanes) *Store {
	return &Store{pool: lanes.Main, lanes: lanes}
}

// Postgres error codes the store reacts to.
const (
	codeUniqueViolation = "23505"
	codeCheckViolation  = "23514"
)

func pgCode(err error) string {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code
	}
	return ""
}

// pgUUID is id in pgx's own uuid type, which pgx encodes in binary
// directly; a uuid.UUID goes through its driver.Valuer as text, which
// costs several times more per value on the bulk paths. uuid.Nil is NULL.
func pgUUID(id uuid.UUID) pgtype.UUID {
	return pgtype.UUID{Bytes: id, Valid: id != uuid.Nil}
}
