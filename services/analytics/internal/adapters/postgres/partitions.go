package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	libpg "github.com/storefront-go/storefront/libs/postgres"
)

const (
	// partitionPrefix and partitionLayout name a day's partition:
	// events_20261206 holds the UTC day 2026-12-06.
	partitionPrefix = "events_"
	partitionLayout = "20060102"
	// partitionLock serialises partition changes across replicas.
	partitionLock = 0x616e616c79746963 // "analytic"
	day           = 24 * time.Hour
)

// partitions returns the days the existing partitions hold.
func partitions(ctx context.Context, tx pgx.Tx) (map[time.Time]bool, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("list event partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list event partitions: %w", err)
	}
	days := make(map[time.Time]bool, len(names))
	for _, n := range names {
		d, err := time.Parse(partitionLayout, strings.TrimPrefix(n, partitionPrefix))
		if err != nil || !strings.HasPrefix(n, partitionPrefix) {
			continue // not one of ours
		}
		days[d] = true
	}
	return days, nil
}

// Ensure creates the missing partitions of the days from through to, UTC.
func (s *Store) Ensure(ctx context.Context, from, to time.Time) (created int, err error) {
	err = libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLock)); err != nil {
			return fmt.Errorf("lock event partitions: %w", err)
		}
		have, err := partitions(ctx, tx)
		if err != nil {
			return err
		}
		for d := from.UTC().Truncate(day); !d.After(to.UTC()); d = d.Add(day) {
			if have[d] {
				continue
			}
			// DDL takes no parameters; the name and bounds are formatted
			// from a time, never from input.
			name := pgx.Identifier{partitionPrefix + d.Format(partitionLayout)}.Sanitize()
			sql := fmt.Sprintf(`CREATE TABLE %s PARTITION OF events FOR VALUES FROM ('%s') TO ('%s')`,
				name, d.Format(time.RFC3339), d.Add(day).Format(time.RFC3339))
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("create partition %s: %w", name, err)
			}
			created++
		}
		return nil
	})
	return created, err
}

// DropBefore drops the partitions of the days that end at or before t.
func (s *Store) DropBefore(ctx context.Context, t time.Time) (dropped int, err error) {
	err = libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLock)); err != nil {
			return fmt.Errorf("lock event partitions: %w", err)
		}
		have, err := partitions(ctx, tx)
		if err != nil {
			return err
		}
		for d := range have {
			if d.Add(day).After(t) {
				continue
			}
			name := pgx.Identifier{partitionPrefix + d.Format(partitionLayout)}.Sanitize()
			if _, err := tx.Exec(ctx, `DROP TABLE `+name); err != nil {
				return fmt.Errorf("drop partition %s: %w", name, err)
			}
			dropped++
		}
		return nil
	})
	return dropped, err
}
