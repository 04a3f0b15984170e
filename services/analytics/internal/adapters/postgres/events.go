package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// eventColumns are the events columns a write sets, in COPY order.
func eventColumns() []string {
	return []string{"event_id", "occurred_at", "event_name", "user_id", "product_id", "properties"}
}

func eventRow(e domain.Event) []any {
	var props any
	if len(e.Properties) > 0 {
		props = e.Properties
	}
	return []any{pgUUID(e.ID), e.OccurredAt, e.Name, e.UserID, pgUUID(e.ProductID), props}
}

// Insert stores e with what it adds to the counters, or reports it as a
// duplicate.
func (s *Store) Insert(ctx context.Context, e domain.Event) (duplicate bool, err error) {
	err = s.withPartitions(ctx, []time.Time{e.OccurredAt}, func() error {
		return libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO events (event_id, occurred_at, event_name, user_id, product_id, properties)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, eventRow(e)...)
			if err != nil {
				return fmt.Errorf("insert event: %w", err)
			}
			duplicate = tag.RowsAffected() == 0
			if duplicate {
				return nil
			}
			return appendDeltas(ctx, tx, domain.EventDeltas([]domain.Event{e}))
		})
	})
	return duplicate, err
}

// InsertBatch stores the events not stored before, with their counters, in
// one transaction. It first copies the whole batch straight into events;
// when that meets an event stored before, the transaction is rolled back
// and done again through a staging table, inserting only what is new
// (retrying the whole transaction spares the fast path a savepoint's round
// trips). Events are written in id order, so two batches that share
// events cannot deadlock.
func (s *Store) InsertBatch(ctx context.Context, events []domain.Event) (stored int, err error) {
	if len(events) == 0 {
		return 0, nil
	}
	events = slices.Clone(events)
	slices.SortFunc(events, func(a, b domain.Event) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	times := make([]time.Time, len(events))
	rows := make([][]any, len(events))
	for i, e := range events {
		times[i] = e.OccurredAt
		rows[i] = eventRow(e)
	}
	err = s.withPartitions(ctx, times, func() error {
		err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns(), pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("copy %d events: %w", len(events), err)
			}
			stored = len(events)
			return appendDeltas(ctx, tx, domain.EventDeltas(events))
		})
		if pgCode(err) != codeUniqueViolation {
			return err
		}
		// Some events were stored before.
		return libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			fresh, err := insertNew(ctx, tx, events, rows)
			if err != nil {
				return err
			}
			stored = len(fresh)
			return appendDeltas(ctx, tx, domain.EventDeltas(fresh))
		})
	})
	return stored, err
}

// insertNew writes the events (rows, in the same order) that are not
// stored yet, through a staging table, and returns them.
func insertNew(ctx context.Context, tx pgx.Tx, events []domain.Event, rows [][]any) ([]domain.Event, error) {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS events_incoming
		(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
		return nil, fmt.Errorf("create staging table: %w", err)
	}
	if _, err := tx.Exec(ctx, `TRUNCATE events_incoming`); err != nil {
		return nil, fmt.Errorf("empty staging table: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events_incoming"}, eventColumns(), pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("stage %d events: %w", len(events), err)
	}
	inserted, err := tx.Query(ctx, `INSERT INTO events (event_id, occurred_at, event_name, user_id, product_id, properties, received_at)
		SELECT event_id, occurred_at, event_name, user_id, product_id, properties, received_at
		FROM events_incoming ORDER BY event_id
		ON CONFLICT DO NOTHING RETURNING event_id`)
	if err != nil {
		return nil, fmt.Errorf("insert staged events: %w", err)
	}
	ids, err := pgx.CollectRows(inserted, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("insert staged events: %w", err)
	}
	isNew := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		isNew[id] = true
	}
	fresh := make([]domain.Event, 0, len(ids))
	for _, e := range events {
		if isNew[e.ID] {
			fresh = append(fresh, e)
		}
	}
	return fresh, nil
}

// withPartitions runs write, and when it failed because the partition of
// one of times does not exist yet, creates the partitions of those days
// and runs it once more: an event for a day the schedule has not reached
// is never lost.
func (s *Store) withPartitions(ctx context.Context, times []time.Time, write func() error) error {
	err := write()
	if !missingPartition(err) {
		return err
	}
	lo, hi := slices.MinFunc(times, time.Time.Compare), slices.MaxFunc(times, time.Time.Compare)
	if _, perr := s.Ensure(ctx, lo, hi); perr != nil {
		return errors.Join(err, perr)
	}
	return write()
}

// missingPartition reports whether err is Postgres finding no partition
// for a row.
func missingPartition(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == codeCheckViolation && strings.HasPrefix(pgErr.Message, "no partition of relation")
}
