// Package postgres stores orders, their lines and idempotency keys in
// Postgres, and writes each order's events to the outbox in the same
// transaction as the change.
package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/orders/internal/app"
)

// versionTable records which of the orders migrations ran.
const versionTable = "orders_schema_version"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies the service's own migrations; the host applies the
// outbox's and the consumer inbox's before them.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := libpg.MigrateDir(ctx, pool, migrations, "migrations", versionTable); err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	return nil
}

// Store implements the app's storage interfaces over one pool.
type Store struct {
	pool *pgxpool.Pool
}

var (
	_ app.Keys   = (*Store)(nil)
	_ app.Orders = (*Store)(nil)
	_ app.Reader = (*Store)(nil)
)

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}
