package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// versionTablePattern keeps the version table a plain, optionally
// schema-qualified identifier: tern splices it into SQL unquoted.
var versionTablePattern = regexp.MustCompile(`\A([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*\z`)

// MigrateDir is Migrate for the migrations in directory dir of fsys, as a
// package embeds them with //go:embed dir/*.sql.
func MigrateDir(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, dir, versionTable string) error {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return fmt.Errorf("migrate %s: open %s: %w", versionTable, dir, err)
	}
	// A mistyped directory would otherwise migrate nothing, silently.
	if files, err := fs.Glob(sub, "*.sql"); err != nil || len(files) == 0 {
		return fmt.Errorf("migrate %s: no *.sql migrations in %s", versionTable, dir)
	}
	return Migrate(ctx, pool, sub, versionTable)
}

// Migrate applies the pending tern migrations in fsys (files named like
// 001_name.sql at its root) and records progress in versionTable. It runs on
// one connection under an advisory lock keyed by versionTable, so replicas
// starting together apply each migration once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, versionTable string) (err error) {
	if !versionTablePattern.MatchString(versionTable) {
		return fmt.Errorf("migrate: invalid version table name %q", versionTable)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: acquire connection: %w", versionTable, err)
	}
	defer conn.Release()

	// A migration may rewrite a large table, and replicas wait here for
	// each other's: neither is bound by the serving timeouts. The session
	// gets the pool's settings back before the connection is returned.
	if _, err := conn.Exec(ctx, "SET statement_timeout = 0; SET lock_timeout = 0"); err != nil {
		return fmt.Errorf("migrate %s: lift timeouts: %w", versionTable, err)
	}
	defer func() {
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), "RESET statement_timeout; RESET lock_timeout"); rerr != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", versionTable); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", versionTable, err)
	}
	defer func() {
		// Unlock even when ctx is done; a session lock left behind would block
		// the next migration for as long as the pooled connection lives.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", versionTable); uerr != nil {
			// The connection's lock state is unknown; drop it from the pool.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			err = errors.Join(err, fmt.Errorf("migrate %s: unlock: %w", versionTable, uerr))
		}
	}()

	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("migrate %s: init: %w", versionTable, err)
	}
	if err := m.LoadMigrations(fsys); err != nil {
		return fmt.Errorf("migrate %s: load: %w", versionTable, err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", versionTable, err)
	}
	return nil
}
