package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/storefront-go/storefront/libs/outbox"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/contract"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

const orderColumns = `id, customer_id, status, currency_code, total_minor, cancel_reason, created_at, updated_at, cancelled_at`

// querier is what reads need from a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Outcome reports whether the order of key was committed. It reads the
// key's row FOR SHARE, which waits for a transaction that is still
// completing it (Create updates that row first), so the answer is the
// final one: COMPLETED means the order is there.
func (s *Store) Outcome(ctx context.Context, key app.KeyRef) (domain.Order, bool, error) {
	var state string
	err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			SELECT state FROM idempotency_keys
			WHERE customer_id = $1 AND key = $2 AND order_id = $3
			FOR SHARE`,
			key.CustomerID, key.Key, key.OrderID).Scan(&state)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return domain.Order{}, false, nil
	case err != nil:
		return domain.Order{}, false, fmt.Errorf("read key of order %s: %w", key.OrderID, err)
	case state != "COMPLETED":
		return domain.Order{}, false, nil
	}
	o, err := s.Get(ctx, key.OrderID)
	if err != nil {
		return domain.Order{}, false, err
	}
	return o, true, nil
}

// Create stores the order and its lines, completes the key's claim with
// the order's PlaceOrder answer and enqueues OrderPlaced, all in one
// transaction.
func (s *Store) Create(ctx context.Context, o domain.Order, key app.KeyRef) error {
	response, err := contract.EncodePlaceOrderResponse(o)
	if err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	err = libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE idempotency_keys
			SET state = 'COMPLETED', response = $4, completed_at = now()
			WHERE customer_id = $1 AND key = $2 AND order_id = $3 AND state = 'PENDING'`,
			key.CustomerID, key.Key, key.OrderID, response)
		if err != nil {
			return fmt.Errorf("complete key: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return app.ErrClaimLost
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO orders (`+orderColumns+`)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9)`,
			o.ID, o.CustomerID, o.Status.String(), o.Total.CurrencyCode, o.Total.AmountMinor,
			o.CancelReason, o.CreatedAt, o.UpdatedAt, nullTime(o.CancelledAt))
		if err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		if err := insertLines(ctx, tx, o); err != nil {
			return err
		}
		if _, err := outbox.Enqueue(ctx, tx, contract.SubjectOrderPlaced, contract.OrderPlaced(o)); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create order %s: %w", o.ID, err)
	}
	return nil
}

func insertLines(ctx context.Context, tx pgx.Tx, o domain.Order) error {
	n := len(o.Lines)
	var (
		lineNos    = make([]int, n)
		productIDs = make([]uuid.UUID, n)
		skus       = make([]string, n)
		names      = make([]string, n)
		quantities = make([]int32, n)
		unitPrices = make([]int64, n)
		lineTotals = make([]int64, n)
	)
	for i, l := range o.Lines {
		lineNos[i] = i
		productIDs[i] = l.ProductID
		skus[i] = l.SKU
		names[i] = l.Name
		quantities[i] = l.Quantity
		unitPrices[i] = l.UnitPrice.AmountMinor
		lineTotals[i] = l.LineTotal.AmountMinor
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO order_lines (order_id, line_no, product_id, sku, name, quantity, unit_price_minor, line_total_minor)
		SELECT $1, l.line_no, l.product_id, l.sku, l.name, l.quantity, l.unit_price, l.line_total
		FROM unnest($2::int[], $3::uuid[], $4::text[], $5::text[], $6::int[], $7::bigint[], $8::bigint[])
			AS l(line_no, product_id, sku, name, quantity, unit_price, line_total)`,
		o.ID, lineNos, productIDs, skus, names, quantities, unitPrices, lineTotals)
	if err != nil {
		return fmt.Errorf("insert order lines: %w", err)
	}
	return nil
}

// Update locks the order, applies fn and, when fn reports a change, stores
// the new status and enqueues its event in the same transaction.
func (s *Store) Update(ctx context.Context, id uuid.UUID, fn func(*domain.Order) (bool, error)) (domain.Order, error) {
	var o domain.Order
	err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		o, err = getOrder(ctx, tx, id, true)
		if err != nil {
			return err
		}
		before := o.Status
		changed, err := fn(&o)
		if err != nil || !changed {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE orders SET status = $2, cancel_reason = NULLIF($3, ''), updated_at = $4, cancelled_at = $5
			WHERE id = $1`,
			o.ID, o.Status.String(), o.CancelReason, o.UpdatedAt, nullTime(o.CancelledAt))
		if err != nil {
			return fmt.Errorf("update order: %w", err)
		}
		if before != domain.StatusCancelled && o.Status == domain.StatusCancelled {
			if _, err := outbox.Enqueue(ctx, tx, contract.SubjectOrderCancelled, contract.OrderCancelled(o)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return domain.Order{}, fmt.Errorf("update order %s: %w", id, err)
	}
	return o, nil
}

// Get returns an order with its lines.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (domain.Order, error) {
	o, err := getOrder(ctx, s.pool, id, false)
	if err != nil {
		return domain.Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return o, nil
}

func getOrder(ctx context.Context, q querier, id uuid.UUID, lock bool) (domain.Order, error) {
	sql := `SELECT ` + orderColumns + ` FROM orders WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	o, err := scanOrder(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Order{}, domain.OrderNotFound(id)
	}
	if err != nil {
		return domain.Order{}, fmt.Errorf("read order: %w", err)
	}
	orders := []domain.Order{o}
	if err := loadLines(ctx, q, orders); err != nil {
		return domain.Order{}, err
	}
	return orders[0], nil
}

// List returns up to limit of a customer's orders, or every customer's for
// app.AllCustomers, after the cursor, newest first, ties broken by id; the
// indexes orders_customer_created_idx and orders_created_idx serve them.
func (s *Store) List(ctx context.Context, customerID string, after *app.Cursor, limit int) ([]domain.Order, error) {
	whose := "customer " + customerID
	if customerID == app.AllCustomers {
		whose = "every customer"
	}
	rows, err := s.listRows(ctx, customerID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list orders of %s: %w", whose, err)
	}
	orders, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Order, error) { return scanOrder(row) })
	if err != nil {
		return nil, fmt.Errorf("list orders of %s: %w", whose, err)
	}
	if err := loadLines(ctx, s.pool, orders); err != nil {
		return nil, fmt.Errorf("list orders of %s: %w", whose, err)
	}
	return orders, nil
}

// listRows runs the listing's query. Each case has its own statement, so
// that each is planned for its own index.
func (s *Store) listRows(ctx context.Context, customerID string, after *app.Cursor, limit int) (pgx.Rows, error) {
	const (
		selectOrders = `SELECT ` + orderColumns + ` FROM orders `
		newestFirst  = ` ORDER BY created_at DESC, id DESC `
	)
	switch {
	case customerID == app.AllCustomers && after == nil:
		return s.pool.Query(ctx, selectOrders+newestFirst+`LIMIT $1`, limit)
	case customerID == app.AllCustomers:
		return s.pool.Query(ctx, selectOrders+`WHERE (created_at, id) < ($1, $2)`+newestFirst+`LIMIT $3`,
			after.CreatedAt, after.ID, limit)
	case after == nil:
		return s.pool.Query(ctx, selectOrders+`WHERE customer_id = $1`+newestFirst+`LIMIT $2`, customerID, limit)
	default:
		return s.pool.Query(ctx, selectOrders+`WHERE customer_id = $1 AND (created_at, id) < ($2, $3)`+newestFirst+`LIMIT $4`,
			customerID, after.CreatedAt, after.ID, limit)
	}
}

func scanOrder(row pgx.Row) (domain.Order, error) {
	var (
		o                    domain.Order
		status, currency     string
		reason               *string
		cancelledAt          *time.Time
		createdAt, updatedAt time.Time
	)
	err := row.Scan(&o.ID, &o.CustomerID, &status, &currency, &o.Total.AmountMinor, &reason, &createdAt, &updatedAt, &cancelledAt)
	if err != nil {
		return domain.Order{}, err
	}
	st, ok := domain.ParseStatus(status)
	if !ok {
		return domain.Order{}, fmt.Errorf("order %s has unknown status %q", o.ID, status)
	}
	o.Status = st
	o.Total.CurrencyCode = currency
	o.CreatedAt = createdAt.UTC()
	o.UpdatedAt = updatedAt.UTC()
	if cancelledAt != nil {
		o.CancelledAt = cancelledAt.UTC()
	}
	if reason != nil {
		o.CancelReason = *reason
	}
	return o, nil
}

// loadLines fills in the lines of orders with one query.
func loadLines(ctx context.Context, q querier, orders []domain.Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(orders))
	index := make(map[uuid.UUID]int, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
		index[o.ID] = i
	}
	rows, err := q.Query(ctx, `
		SELECT order_id, product_id, sku, name, quantity, unit_price_minor, line_total_minor
		FROM order_lines WHERE order_id = ANY($1)
		ORDER BY order_id, line_no`, ids)
	if err != nil {
		return fmt.Errorf("read order lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			orderID uuid.UUID
			l       domain.Line
		)
		if err := rows.Scan(&orderID, &l.ProductID, &l.SKU, &l.Name, &l.Quantity, &l.UnitPrice.AmountMinor, &l.LineTotal.AmountMinor); err != nil {
			return fmt.Errorf("read order lines: %w", err)
		}
		i, ok := index[orderID]
		if !ok {
			continue
		}
		l.UnitPrice.CurrencyCode = orders[i].Total.CurrencyCode
		l.LineTotal.CurrencyCode = orders[i].Total.CurrencyCode
		orders[i].Lines = append(orders[i].Lines, l)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read order lines: %w", err)
	}
	return nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
