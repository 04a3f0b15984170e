package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// lockFact makes sure the order's fact row exists and locks it, so the
// placement and the cancellation, handled by different consumers, see
// each other's effect.
func lockFact(ctx context.Context, tx pgx.Tx, o domain.Order) (placedAt, cancelledAt *time.Time, err error) {
	if _, err := tx.Exec(ctx, `INSERT INTO order_facts (order_id) VALUES ($1) ON CONFLICT DO NOTHING`, o.ID); err != nil {
		return nil, nil, fmt.Errorf("record order: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT placed_at, cancelled_at FROM order_facts WHERE order_id = $1 FOR UPDATE`, o.ID).
		Scan(&placedAt, &cancelledAt); err != nil {
		return nil, nil, fmt.Errorf("lock order: %w", err)
	}
	return placedAt, cancelledAt, nil
}

// Placed counts the placement once, unless the order is cancelled already.
func (s *Store) Placed(ctx context.Context, o domain.Order) (counted bool, err error) {
	err = libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		placedAt, cancelledAt, err := lockFact(ctx, tx, o)
		if err != nil || placedAt != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE order_facts SET placed_at = $2 WHERE order_id = $1`, o.ID, o.At); err != nil {
			return fmt.Errorf("record placement: %w", err)
		}
		if cancelledAt != nil {
			return nil
		}
		counted = true
		return addCounts(ctx, tx, domain.OrderDeltas(o.Lines, o.At, 1))
	})
	return counted, err
}

// Cancelled takes a counted placement out of the minute it was placed in.
func (s *Store) Cancelled(ctx context.Context, o domain.Order) (subtracted bool, err error) {
	err = libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		placedAt, cancelledAt, err := lockFact(ctx, tx, o)
		if err != nil || cancelledAt != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE order_facts SET cancelled_at = $2 WHERE order_id = $1`, o.ID, o.At); err != nil {
			return fmt.Errorf("record cancellation: %w", err)
		}
		if placedAt == nil {
			return nil
		}
		subtracted = true
		return addCounts(ctx, tx, domain.OrderDeltas(o.Lines, *placedAt, -1))
	})
	return subtracted, err
}

// Upsert stores the product unless a newer announcement is stored. A
// deletion keeps the name and category the product last had.
func (s *Store) Upsert(ctx context.Context, p domain.Product) error {
	_, err := s.execIn(ctx, `
		INSERT INTO products AS p (product_id, name, category_id, deleted, changed_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (product_id) DO UPDATE SET
			name = CASE WHEN EXCLUDED.deleted THEN p.name ELSE EXCLUDED.name END,
			category_id = CASE WHEN EXCLUDED.deleted THEN p.category_id ELSE EXCLUDED.category_id END,
			deleted = EXCLUDED.deleted,
			changed_at = EXCLUDED.changed_at
		WHERE p.changed_at <= EXCLUDED.changed_at`,
		p.ID, p.Name, p.CategoryID, p.Deleted, p.ChangedAt)
	if err != nil {
		return fmt.Errorf("upsert product: %w", err)
	}
	return nil
}

// execIn runs one statement in the caller's unit of work, or on its own.
func (s *Store) execIn(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, args...)
		n = tag.RowsAffected()
		return err //nolint:wrapcheck // the caller wraps
	})
	return n, err //nolint:wrapcheck // the caller wraps
}
