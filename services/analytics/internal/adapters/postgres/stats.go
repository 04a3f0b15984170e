package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// inWindow is the condition that picks a window's buckets: the minutes
// before its first whole hour ($2, $3), its whole hours ($4, $5) and the
// minutes after them ($6, $7). Each minute of the window is counted once.
const inWindow = `((width_minutes = 1 AND bucket >= $2 AND bucket < $3)
	OR (width_minutes = 60 AND bucket >= $4 AND bucket < $5)
	OR (width_minutes = 1 AND bucket >= $6 AND bucket < $7))`

// windowCounts is every counter row of the window ($2 to $7 as in
// inWindow), as product_id, views, add_to_carts, orders and units_sold:
// the folded buckets, and the deltas not folded yet whose minute is in the
// window ($2 is its start, $7 its end). It is read in one statement, whose
// snapshot sees each delta on exactly one side.
const windowCounts = `(SELECT product_id, views, add_to_carts, orders, units_sold FROM product_counts WHERE ` + inWindow + `
	UNION ALL
	SELECT d.product_id, d.views, d.add_to_carts, 0, 0
	FROM count_deltas AS p,
		unnest(p.product_ids, p.minutes, p.views, p.add_to_carts) AS d (product_id, minute, views, add_to_carts)
	WHERE p.first_minute < $7 AND p.last_minute >= $2 AND d.minute >= $2 AND d.minute < $7) AS counts`

// windowArgs are $2 to $7 of inWindow.
func windowArgs(w domain.Window) []any {
	head, hours, tail := w.Pieces()
	return []any{head.Start, head.End, hours.Start, hours.End, tail.Start, tail.End}
}

// Product returns one product's figures over w.
func (s *Store) Product(ctx context.Context, id uuid.UUID, w domain.Window) (domain.ProductStats, error) {
	all, err := s.stats(ctx, []uuid.UUID{id}, w)
	if err != nil {
		return domain.ProductStats{}, err
	}
	return all[0], nil
}

// stats reads the figures of ids over w, in the order of ids, with their
// names; a product with no figures gets zeros.
func (s *Store) stats(ctx context.Context, ids []uuid.UUID, w domain.Window) ([]domain.ProductStats, error) {
	db := s.lanes.Reader(ctx)
	byID := make(map[uuid.UUID]*domain.ProductStats, len(ids))
	out := make([]domain.ProductStats, len(ids))
	for i, id := range ids {
		out[i].ProductID = id
		byID[id] = &out[i]
	}
	args := append([]any{ids}, windowArgs(w)...)

	rows, err := db.Query(ctx, `SELECT product_id, sum(views), sum(add_to_carts), sum(orders), sum(units_sold)
		FROM `+windowCounts+` WHERE product_id = ANY($1) GROUP BY product_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read product counters: %w", err)
	}
	var (
		id uuid.UUID
		c  domain.Counts
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &c.Views, &c.AddToCarts, &c.Orders, &c.UnitsSold}, func() error {
		byID[id].Counts = c
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read product counters: %w", err)
	}

	rows, err = db.Query(ctx, `SELECT product_id, currency_code, sum(amount_minor)
		FROM product_revenue WHERE product_id = ANY($1) AND `+inWindow+`
		GROUP BY product_id, currency_code HAVING sum(amount_minor) <> 0 ORDER BY product_id, currency_code`, args...)
	if err != nil {
		return nil, fmt.Errorf("read product revenue: %w", err)
	}
	var m domain.Money
	if _, err := pgx.ForEachRow(rows, []any{&id, &m.CurrencyCode, &m.AmountMinor}, func() error {
		byID[id].Revenue = append(byID[id].Revenue, m)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read product revenue: %w", err)
	}

	rows, err = db.Query(ctx, `SELECT product_id, name, category_id FROM products WHERE product_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read product names: %w", err)
	}
	var name, category string
	if _, err := pgx.ForEachRow(rows, []any{&id, &name, &category}, func() error {
		byID[id].Name, byID[id].CategoryID = name, category
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read product names: %w", err)
	}
	return out, nil
}

// Ranking queries, one per metric: the products with a positive total in
// the window, highest first, ties by product id. $1 is the limit.
const (
	rankCounts = `SELECT product_id FROM ` + windowCounts + `
		GROUP BY product_id HAVING sum(%[1]s) > 0 ORDER BY sum(%[1]s) DESC, product_id LIMIT $1`
	rankRevenue = `SELECT product_id FROM product_revenue WHERE currency_code = $8 AND ` + inWindow + `
		GROUP BY product_id HAVING sum(amount_minor) > 0 ORDER BY sum(amount_minor) DESC, product_id LIMIT $1`
)

// Top ranks the products by m over w.
func (s *Store) Top(ctx context.Context, m domain.Metric, currency string, w domain.Window, limit int) ([]domain.ProductStats, error) {
	args := append([]any{limit}, windowArgs(w)...)
	var query string
	switch m {
	case domain.MetricViews:
		query = fmt.Sprintf(rankCounts, "views")
	case domain.MetricAddToCarts:
		query = fmt.Sprintf(rankCounts, "add_to_carts")
	case domain.MetricOrders:
		query = fmt.Sprintf(rankCounts, "orders")
	case domain.MetricUnitsSold:
		query = fmt.Sprintf(rankCounts, "units_sold")
	case domain.MetricRevenue:
		query, args = rankRevenue, append(args, currency)
	default:
		return nil, errors.New("unknown metric")
	}
	rows, err := s.lanes.Reader(ctx).Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("rank products: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("rank products: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return s.stats(ctx, ids, w)
}
