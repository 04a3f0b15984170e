package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ParkedEvent is an outbox row the relay gave up on after MaxAttempts
// failures of its own (no stream for its subject, a message too large). It
// stays in the table, unpublished, until an operator requeues it.
type ParkedEvent struct {
	ID        uuid.UUID
	Subject   string
	EventType string
	Attempts  int
	LastError string
	CreatedAt time.Time
	DeadAt    time.Time
}

// requeueParked makes parked rows pending again, attempts reset.
const requeueParked = `UPDATE outbox_events
    SET dead_at = NULL, attempts = 0, next_attempt_at = NULL
  WHERE dead_at IS NOT NULL AND published_at IS NULL`

// ListParked returns up to limit parked rows, oldest first.
func ListParked(ctx context.Context, pool *pgxpool.Pool, limit int) ([]ParkedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list parked outbox events: limit %d must be positive", limit)
	}
	rows, err := pool.Query(ctx,
		`SELECT id, subject, event_type, attempts, coalesce(last_error, ''), created_at, dead_at
		   FROM outbox_events
		  WHERE dead_at IS NOT NULL AND published_at IS NULL
		  ORDER BY created_at, id
		  LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list parked outbox events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ParkedEvent, error) {
		var e ParkedEvent
		err := row.Scan(&e.ID, &e.Subject, &e.EventType, &e.Attempts, &e.LastError, &e.CreatedAt, &e.DeadAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list parked outbox events: %w", err)
	}
	return events, nil
}

// Requeue returns the parked rows among ids to the queue with their
// attempts reset, for an operator to re-drive them once the cause is fixed
// (the stream created, its limits raised), and returns how many it
// requeued. Ids of rows that are not parked are ignored; no ids requeue
// nothing. last_error is kept until the next failure so the cause stays
// visible.
func Requeue(ctx context.Context, pool *pgxpool.Pool, ids ...uuid.UUID) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := pool.Exec(ctx, requeueParked+` AND id = ANY($1)`, ids)
	if err != nil {
		return 0, fmt.Errorf("requeue %d parked outbox events: %w", len(ids), err)
	}
	return tag.RowsAffected(), nil
}

// RequeueAll requeues every parked row, as Requeue does, and returns how
// many it requeued.
func RequeueAll(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	tag, err := pool.Exec(ctx, requeueParked)
	if err != nil {
		return 0, fmt.Errorf("requeue all parked outbox events: %w", err)
	}
	return tag.RowsAffected(), nil
}
