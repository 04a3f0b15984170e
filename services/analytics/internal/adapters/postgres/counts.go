package postgres

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// bucketWidth is a width of the counters' buckets, in minutes as stored.
type bucketWidth struct {
	minutes int16
	width   time.Duration
}

// widths are the bucket widths every delta is added to.
func widths() [2]bucketWidth {
	return [2]bucketWidth{{1, time.Minute}, {60, time.Hour}}
}

type countKey struct {
	product uuid.UUID
	minutes int16
	bucket  time.Time
}

func compareKeys(a, b countKey) int {
	if c := bytes.Compare(a.product[:], b.product[:]); c != 0 {
		return c
	}
	if c := cmp.Compare(a.minutes, b.minutes); c != 0 {
		return c
	}
	return a.bucket.Compare(b.bucket)
}

// addCounts adds deltas to their minute and hour buckets, counters and
// revenue, in tx. Rows are written in primary-key order, so concurrent
// writers lock them in one order and cannot deadlock.
func addCounts(ctx context.Context, tx pgx.Tx, deltas []domain.Delta) error {
	if len(deltas) == 0 {
		return nil
	}
	counts := map[countKey]*domain.Counts{}
	type revenueKey struct {
		countKey
		currency string
	}
	revenue := map[revenueKey]int64{}
	for _, d := range deltas {
		for _, w := range widths() {
			k := countKey{d.ProductID, w.minutes, d.Minute.UTC().Truncate(w.width)}
			c, ok := counts[k]
			if !ok {
				c = &domain.Counts{}
				counts[k] = c
			}
			c.Views += d.Views
			c.AddToCarts += d.AddToCarts
			c.Orders += d.Orders
			c.UnitsSold += d.UnitsSold
			for cur, amount := range d.Revenue {
				revenue[revenueKey{k, cur}] += amount
			}
		}
	}

	keys := make([]countKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	var (
		products                       = make([]pgtype.UUID, len(keys))
		minutes                        = make([]int16, len(keys))
		buckets                        = make([]time.Time, len(keys))
		views, carts, orders, unitSold = make([]int64, len(keys)), make([]int64, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))
	)
	for i, k := range keys {
		c := counts[k]
		products[i], minutes[i], buckets[i] = pgUUID(k.product), k.minutes, k.bucket
		views[i], carts[i], orders[i], unitSold[i] = c.Views, c.AddToCarts, c.Orders, c.UnitsSold
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO product_counts AS c (product_id, width_minutes, bucket, views, add_to_carts, orders, units_sold)
		SELECT p, w, b, v, c, o, u
		FROM unnest($1::uuid[], $2::smallint[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) AS t (p, w, b, v, c, o, u)
		ORDER BY p, w, b
		ON CONFLICT (product_id, width_minutes, bucket) DO UPDATE SET
			views = c.views + EXCLUDED.views,
			add_to_carts = c.add_to_carts + EXCLUDED.add_to_carts,
			orders = c.orders + EXCLUDED.orders,
			units_sold = c.units_sold + EXCLUDED.units_sold`,
		products, minutes, buckets, views, carts, orders, unitSold); err != nil {
		return fmt.Errorf("add to product counters: %w", err)
	}

	if len(revenue) == 0 {
		return nil
	}
	rkeys := make([]revenueKey, 0, len(revenue))
	for k := range revenue {
		rkeys = append(rkeys, k)
	}
	slices.SortFunc(rkeys, func(a, b revenueKey) int {
		if c := compareKeys(a.countKey, b.countKey); c != 0 {
			return c
		}
		return cmp.Compare(a.currency, b.currency)
	})
	var (
		rProducts   = make([]pgtype.UUID, len(rkeys))
		rMinutes    = make([]int16, len(rkeys))
		rBuckets    = make([]time.Time, len(rkeys))
		rCurrencies = make([]string, len(rkeys))
		rAmounts    = make([]int64, len(rkeys))
	)
	for i, k := range rkeys {
		rProducts[i], rMinutes[i], rBuckets[i], rCurrencies[i], rAmounts[i] = pgUUID(k.product), k.minutes, k.bucket, k.currency, revenue[k]
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO product_revenue AS r (product_id, width_minutes, bucket, currency_code, amount_minor)
		SELECT p, w, b, cur, amount
		FROM unnest($1::uuid[], $2::smallint[], $3::timestamptz[], $4::text[], $5::bigint[]) AS t (p, w, b, cur, amount)
		ORDER BY p, w, b, cur
		ON CONFLICT (product_id, width_minutes, bucket, currency_code) DO UPDATE SET
			amount_minor = r.amount_minor + EXCLUDED.amount_minor`,
		rProducts, rMinutes, rBuckets, rCurrencies, rAmounts); err != nil {
		return fmt.Errorf("add to product revenue: %w", err)
	}
	return nil
}

// appendDeltas records what ingested events add to the counters as one
// count_deltas row, in tx; the compactor folds it into product_counts.
// Ingested events count views and add-to-carts only: orders, units and
// revenue come from business events, which add to the counters directly.
func appendDeltas(ctx context.Context, tx pgx.Tx, deltas []domain.Delta) error {
	if len(deltas) == 0 {
		return nil
	}
	var (
		products    = make([]pgtype.UUID, len(deltas))
		minutes     = make([]time.Time, len(deltas))
		views       = make([]int64, len(deltas))
		carts       = make([]int64, len(deltas))
		first, last = deltas[0].Minute, deltas[0].Minute
	)
	for i, d := range deltas {
		products[i], minutes[i], views[i], carts[i] = pgUUID(d.ProductID), d.Minute, d.Views, d.AddToCarts
		if d.Minute.Before(first) {
			first = d.Minute
		}
		if d.Minute.After(last) {
			last = d.Minute
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO count_deltas (first_minute, last_minute, product_ids, minutes, views, add_to_carts)
		VALUES ($1, $2, $3, $4, $5, $6)`, first, last, products, minutes, views, carts); err != nil {
		return fmt.Errorf("append counter deltas: %w", err)
	}
	return nil
}

// FoldCounts folds up to limit count_deltas rows, oldest first, into
// product_counts in one statement, and returns how many it folded. The
// rows are locked with SKIP LOCKED, so replicas folding at once take
// different rows and none is counted twice; a reader sees each delta
// either pending or folded, never both or neither.
func (s *Store) FoldCounts(ctx context.Context, limit int) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `
		WITH moved AS (
			DELETE FROM count_deltas
			WHERE id IN (SELECT id FROM count_deltas ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING product_ids, minutes, views, add_to_carts
		), folded AS (
			SELECT d.product_id, w.width_minutes,
				date_bin(make_interval(mins => w.width_minutes), d.minute, timestamptz '2000-01-01 00:00:00+00') AS bucket,
				sum(d.views) AS views, sum(d.add_to_carts) AS add_to_carts
			FROM moved,
				unnest(moved.product_ids, moved.minutes, moved.views, moved.add_to_carts) AS d (product_id, minute, views, add_to_carts),
				(VALUES (1::smallint), (60::smallint)) AS w (width_minutes)
			GROUP BY d.product_id, w.width_minutes, bucket
		), added AS (
			INSERT INTO product_counts AS c (product_id, width_minutes, bucket, views, add_to_carts)
			SELECT product_id, width_minutes, bucket, views, add_to_carts FROM folded
			ORDER BY product_id, width_minutes, bucket
			ON CONFLICT (product_id, width_minutes, bucket) DO UPDATE SET
				views = c.views + EXCLUDED.views,
				add_to_carts = c.add_to_carts + EXCLUDED.add_to_carts
		)
		SELECT count(*) FROM moved`, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("fold counter deltas: %w", err)
	}
	return n, nil
}
