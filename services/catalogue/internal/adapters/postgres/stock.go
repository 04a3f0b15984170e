package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// AdjustStock adds delta to a product's stock, refusing to go below zero,
// and enqueues StockChanged.
func (s *Store) AdjustStock(ctx context.Context, id uuid.UUID, delta int64) (domain.Product, error) {
	var p domain.Product
	err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		p, err = scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ProductNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("lock product: %w", err)
		}
		if _, err := domain.ApplyStockDelta(id, p.StockQty, delta); err != nil {
			return err
		}
		ok, err := changeStock(ctx, tx, domain.StockChange{ProductID: id, Delta: delta, Reason: domain.ReasonAdjust})
		if err != nil {
			return err
		}
		if !ok {
			// The row is locked, so only the stock check can fail here.
			return &domain.InsufficientStockError{Shortages: []domain.Shortage{{ProductID: id, Requested: -delta, Available: p.StockQty}}}
		}
		p, err = scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
		if err != nil {
			return fmt.Errorf("reload product: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Product{}, fmt.Errorf("adjust stock of product %s: %w", id, err)
	}
	return p, nil
}

// Reserve takes every item's quantity from stock in one transaction, or
// nothing. items must be sorted by product id: rows are locked in that
// order, so two reservations over the same products never deadlock. A
// repeated id returns the stored reservation when the items match.
func (s *Store) Reserve(ctx context.Context, id uuid.UUID, items []domain.ReservationItem, ttl time.Duration) (domain.Reservation, error) {
	r := domain.Reservation{ID: id, Items: items, Status: domain.ReservationActive}
	err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// Claiming the id first makes a concurrent repeat wait for this
		// transaction and then see its outcome.
		err := tx.QueryRow(ctx, `
			INSERT INTO reservations (id, status, expires_at)
			VALUES ($1, 'ACTIVE', now() + $2 * interval '1 microsecond')
			ON CONFLICT (id) DO NOTHING
			RETURNING created_at, expires_at`,
			id, ttl.Microseconds(),
		).Scan(&r.CreatedAt, &r.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			stored, err := loadReservation(ctx, tx, id, false)
			if err != nil {
				return err
			}
			if !stored.SameItems(items) {
				return domain.ReservationConflict(id)
			}
			r = stored
			return nil
		}
		if err != nil {
			return fmt.Errorf("insert reservation: %w", err)
		}

		ids := make([]uuid.UUID, len(items))
		for i, it := range items {
			ids[i] = it.ProductID
		}
		available, err := lockStock(ctx, tx, ids)
		if err != nil {
			return err
		}
		var missing []uuid.UUID
		for _, pid := range ids {
			if _, ok := available[pid]; !ok {
				missing = append(missing, pid)
			}
		}
		if len(missing) > 0 {
			return domain.ProductNotFound(missing...)
		}
		if err := domain.CheckStock(items, available); err != nil {
			return err
		}
		for _, it := range items {
			ok, err := changeStock(ctx, tx, domain.StockChange{
				ProductID: it.ProductID, Delta: -int64(it.Quantity), Reason: domain.ReasonReserve, ReservationID: id,
			})
			if err != nil {
				return err
			}
			if !ok {
				// Unreachable while the rows are locked; the conditional
				// update and the CHECK constraint still rule out overselling.
				return &domain.InsufficientStockError{Shortages: []domain.Shortage{{
					ProductID: it.ProductID, Requested: int64(it.Quantity), Available: available[it.ProductID],
				}}}
			}
		}
		quantities := make([]int32, len(items))
		for i, it := range items {
			quantities[i] = it.Quantity
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO reservation_items (reservation_id, product_id, quantity)
			SELECT $1, item.product_id, item.quantity FROM unnest($2::uuid[], $3::integer[]) AS item(product_id, quantity)`,
			id, ids, quantities)
		if err != nil {
			return fmt.Errorf("insert reservation items: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("reserve stock for %s: %w", id, err)
	}
	return r, nil
}

// lockStock locks the products' rows in id order and returns their stock.
func lockStock(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]int64, error) {
	rows, err := tx.Query(ctx, `SELECT id, stock_qty FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock products: %w", err)
	}
	defer rows.Close()
	available := make(map[uuid.UUID]int64, len(ids))
	for rows.Next() {
		var (
			id  uuid.UUID
			qty int64
		)
		if err := rows.Scan(&id, &qty); err != nil {
			return nil, fmt.Errorf("lock products: %w", err)
		}
		available[id] = qty
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock products: %w", err)
	}
	return available, nil
}

// loadReservation reads a reservation and its items, optionally locking it.
func loadReservation(ctx context.Context, tx pgx.Tx, id uuid.UUID, lock bool) (domain.Reservation, error) {
	q := `SELECT status, created_at, expires_at FROM reservations WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	r := domain.Reservation{ID: id}
	var status string
	err := tx.QueryRow(ctx, q, id).Scan(&status, &r.CreatedAt, &r.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Reservation{}, domain.ReservationNotFound(id)
	}
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("load reservation: %w", err)
	}
	st, ok := domain.ParseReservationStatus(status)
	if !ok {
		return domain.Reservation{}, fmt.Errorf("load reservation: unknown status %q", status)
	}
	r.Status = st
	rows, err := tx.Query(ctx, `SELECT product_id, quantity FROM reservation_items WHERE reservation_id = $1 ORDER BY product_id`, id)
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("load reservation items: %w", err)
	}
	r.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.ReservationItem, error) {
		var it domain.ReservationItem
		err := row.Scan(&it.ProductID, &it.Quantity)
		return it, err
	})
	if err != nil {
		return domain.Reservation{}, fmt.Errorf("load reservation items: %w", err)
	}
	return r, nil
}

// Release ends an active or confirmed reservation and gives its stock back,
// in a transaction or in the unit of work ctx carries (the inbox
// transaction of the consumer of cancelled orders). A reservation that
// already ended is returned unchanged; released reports whether stock went
// back now. An unknown reservation gives a domain.NotFoundError and leaves
// an outer unit of work usable.
func (s *Store) Release(ctx context.Context, id uuid.UUID) (r domain.Reservation, released bool, err error) {
	err = libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		r, released, err = release(ctx, tx, id)
		return err
	})
	if err != nil {
		return domain.Reservation{}, false, fmt.Errorf("release reservation %s: %w", id, err)
	}
	return r, released, nil
}

// confirm marks an active reservation confirmed in tx. A confirmed
// reservation is no longer expired by the sweeper, and keeps its stock
// until it is released. The result reports what changed now.
//
// A reservation that expired before its order was placed (the order's
// confirmation came late) is reinstated: its stock is taken again, with
// StockChanged events, when every item still has enough; otherwise it stays
// expired. A reservation already confirmed or released is returned
// unchanged. An unknown reservation gives a domain.NotFoundError and leaves
// tx usable.
func confirm(ctx context.Context, tx pgx.Tx, id uuid.UUID) (domain.Reservation, domain.ConfirmResult, error) {
	r, err := loadReservation(ctx, tx, id, true)
	if err != nil {
		return domain.Reservation{}, domain.ConfirmUnchanged, fmt.Errorf("confirm reservation %s: %w", id, err)
	}
	if r.Status == domain.ReservationExpired {
		return reinstate(ctx, tx, r)
	}
	if !r.Confirm() {
		return r, domain.ConfirmUnchanged, nil
	}
	// The row is locked and was ACTIVE; the status condition only restates it.
	if _, err := tx.Exec(ctx, `UPDATE reservations SET status = 'CONFIRMED' WHERE id = $1 AND status = 'ACTIVE'`, id); err != nil {
		return domain.Reservation{}, domain.ConfirmUnchanged, fmt.Errorf("confirm reservation %s: %w", id, err)
	}
	return r, domain.ConfirmConfirmed, nil
}

// Confirm confirms a reservation (see confirm) in a transaction, or in the
// unit of work ctx carries (the inbox transaction of the consumer of placed
// orders). The reservation is returned as it is afterwards, confirmed, or
// released or expired when it ended first, with what changed now.
func (s *Store) Confirm(ctx context.Context, id uuid.UUID) (r domain.Reservation, result domain.ConfirmResult, err error) {
	err = libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		r, result, err = confirm(ctx, tx, id)
		return err
	})
	if err != nil {
		return domain.Reservation{}, domain.ConfirmUnchanged, err
	}
	return r, result, nil
}

// reinstate takes an expired reservation's stock again and confirms it, in
// tx, which holds the reservation's row lock. Product rows are locked in id
// order after the reservation, as everywhere else. When a product is gone
// or short, nothing changes and r comes back still expired; the savepoint
// keeps tx usable whatever fails.
func reinstate(ctx context.Context, tx pgx.Tx, r domain.Reservation) (domain.Reservation, domain.ConfirmResult, error) {
	items := domain.SortedItems(r.Items)
	ids := make([]uuid.UUID, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		available, err := lockStock(ctx, sp, ids)
		if err != nil {
			return err
		}
		if len(available) != len(ids) || domain.CheckStock(items, available) != nil {
			return errCannotReinstate
		}
		for _, it := range items {
			ok, err := changeStock(ctx, sp, domain.StockChange{
				ProductID: it.ProductID, Delta: -int64(it.Quantity), Reason: domain.ReasonReinstate, ReservationID: r.ID,
			})
			if err != nil {
				return err
			}
			if !ok {
				// Unreachable while the rows are locked.
				return errCannotReinstate
			}
		}
		if _, err := sp.Exec(ctx, `UPDATE reservations SET status = 'CONFIRMED', released_at = NULL WHERE id = $1 AND status = 'EXPIRED'`, r.ID); err != nil {
			return fmt.Errorf("mark reinstated: %w", err)
		}
		return nil
	})
	switch {
	case errors.Is(err, errCannotReinstate):
		return r, domain.ConfirmUnchanged, nil
	case err != nil:
		return domain.Reservation{}, domain.ConfirmUnchanged, fmt.Errorf("reinstate reservation %s: %w", r.ID, err)
	}
	r.Reinstate()
	return r, domain.ConfirmReinstated, nil
}

// errCannotReinstate rolls back the savepoint of a reinstatement that
// found a product gone or short of stock.
var errCannotReinstate = errors.New("reservation cannot be reinstated")

// release locks the reservation and, when it still holds stock (active or
// confirmed), marks it released and restores its stock with StockChanged
// events, all in tx. An expired reservation is marked released with no
// stock change (the sweeper restored it), so it can never be reinstated.
func release(ctx context.Context, tx pgx.Tx, id uuid.UUID) (domain.Reservation, bool, error) {
	r, err := loadReservation(ctx, tx, id, true)
	if err != nil {
		return domain.Reservation{}, false, err
	}
	was := r.Status
	restore := r.Release()
	if r.Status == was {
		return r, false, nil
	}
	if !restore {
		// Expired: released_at keeps when its stock went back.
		if _, err := tx.Exec(ctx, `UPDATE reservations SET status = 'RELEASED' WHERE id = $1`, id); err != nil {
			return domain.Reservation{}, false, fmt.Errorf("mark released: %w", err)
		}
		return r, false, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE reservations SET status = 'RELEASED', released_at = now() WHERE id = $1`, id); err != nil {
		return domain.Reservation{}, false, fmt.Errorf("mark released: %w", err)
	}
	if err := restoreStock(ctx, tx, id, r.Items, domain.ReasonRelease); err != nil {
		return domain.Reservation{}, false, err
	}
	return r, true, nil
}

// restoreStock gives items back in product id order. Products deleted in
// the meantime are skipped.
func restoreStock(ctx context.Context, tx pgx.Tx, reservationID uuid.UUID, items []domain.ReservationItem, reason string) error {
	for _, it := range domain.SortedItems(items) {
		_, err := changeStock(ctx, tx, domain.StockChange{
			ProductID: it.ProductID, Delta: int64(it.Quantity), Reason: reason, ReservationID: reservationID,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ExpireReservations expires up to limit active reservations past their
// TTL and gives their stock back. Confirmed reservations belong to placed
// orders and never expire. Reservations locked by another sweeper, or by a
// release or confirmation in progress, are skipped. Stock rows are updated in
// product id order over the whole batch, like every other stock change.
func (s *Store) ExpireReservations(ctx context.Context, limit int) (int, error) {
	n := 0
	err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id FROM reservations
			WHERE status = 'ACTIVE' AND expires_at <= now()
			ORDER BY expires_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return fmt.Errorf("claim expired reservations: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("claim expired reservations: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE reservations SET status = 'EXPIRED', released_at = now() WHERE id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("mark expired: %w", err)
		}
		rows, err = tx.Query(ctx, `
			SELECT reservation_id, product_id, quantity FROM reservation_items
			WHERE reservation_id = ANY($1)
			ORDER BY product_id, reservation_id`, ids)
		if err != nil {
			return fmt.Errorf("load expired items: %w", err)
		}
		type item struct {
			reservation uuid.UUID
			domain.ReservationItem
		}
		items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (item, error) {
			var it item
			err := row.Scan(&it.reservation, &it.ProductID, &it.Quantity)
			return it, err
		})
		if err != nil {
			return fmt.Errorf("load expired items: %w", err)
		}
		for _, it := range items {
			_, err := changeStock(ctx, tx, domain.StockChange{
				ProductID: it.ProductID, Delta: int64(it.Quantity), Reason: domain.ReasonExpire, ReservationID: it.reservation,
			})
			if err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire reservations: %w", err)
	}
	return n, nil
}
