package outbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storefront-go/storefront/libs/postgres"
)

// versionTable records which outbox migrations ran, apart from the
// service's own migrations.
const versionTable = "outbox_schema_version"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or upgrades the outbox_events table.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("outbox migrations: %w", err)
	}
	if err := postgres.Migrate(ctx, pool, fsys, versionTable); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}
