package outbox

import (
	"context"
	"embed"
	"fmt"

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
	if err := postgres.MigrateDir(ctx, pool, migrations, "migrations", versionTable); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}
