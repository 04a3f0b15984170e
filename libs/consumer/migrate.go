package consumer

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storefront-go/storefront/libs/postgres"
)

// versionTable keeps the inbox schema version apart from the service's own.
const versionTable = "consumer_schema_version"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate creates or upgrades the consumer_inbox table. Services call it from
// their migrate step, next to their own migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := postgres.MigrateDir(ctx, pool, migrationFiles, "migrations", versionTable); err != nil {
		return fmt.Errorf("migrate consumer inbox: %w", err)
	}
	return nil
}
