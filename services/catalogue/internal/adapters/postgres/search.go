package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// searchQuery builds one parameterised statement; values never enter the
// SQL text.
type searchQuery struct {
	where []string
	args  []any
}

func (q *searchQuery) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// filter adds the conditions shared by the page and the count. With a text
// query the statement must join websearch_to_tsquery(...) AS q.
func (q *searchQuery) filter(f domain.SearchFilter) (from string) {
	from = "products"
	if f.Query != "" {
		from = "products, websearch_to_tsquery('english', " + q.arg(f.Query) + ") AS q"
		q.where = append(q.where, "search @@ q")
	}
	if f.CategoryID != "" {
		q.where = append(q.where, "category_id = "+q.arg(f.CategoryID))
	}
	if f.MinPrice != nil {
		q.where = append(q.where, "price_minor >= "+q.arg(*f.MinPrice))
	}
	if f.MaxPrice != nil {
		q.where = append(q.where, "price_minor <= "+q.arg(*f.MaxPrice))
	}
	return from
}

func (q *searchQuery) whereClause() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// Search returns one page of products matching f after the cursor. With a
// text query results are ranked by ts_rank over the weighted tsvector (name
// A, description B) with id breaking ties; without one they are ordered by
// name then id. Both orders are total, so keyset pages never overlap or
// skip. Page and total come from one snapshot.
func (s *Store) Search(ctx context.Context, f domain.SearchFilter, after *domain.SearchCursor, limit int) (domain.SearchPage, error) {
	var page domain.SearchPage
	err := pgx.BeginTxFunc(ctx, s.lanes.Reader(ctx), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var count searchQuery
		from := count.filter(f)
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+from+count.whereClause(), count.args...).Scan(&page.Total); err != nil {
			return fmt.Errorf("count: %w", err)
		}

		var q searchQuery
		from = q.filter(f)
		rank, order := "0::real", "name, id"
		if f.Query != "" {
			rank, order = "ts_rank(search, q)", "rank DESC, id"
		}
		if after != nil {
			if f.Query != "" {
				r, id := q.arg(after.Rank), q.arg(after.ID)
				q.where = append(q.where, fmt.Sprintf("(ts_rank(search, q) < %[1]s::real OR (ts_rank(search, q) = %[1]s::real AND id > %[2]s))", r, id))
			} else {
				q.where = append(q.where, fmt.Sprintf("(name, id) > (%s, %s)", q.arg(after.Name), q.arg(after.ID)))
			}
		}
		sql := "SELECT " + productColumns + ", " + rank + " AS rank FROM " + from + q.whereClause() +
			" ORDER BY " + order + " LIMIT " + q.arg(limit+1)
		rows, err := tx.Query(ctx, sql, q.args...)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		defer rows.Close()
		var ranks []float32
		for rows.Next() {
			var r float32
			p, err := scanProduct(rows, &r)
			if err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			page.Products = append(page.Products, p)
			ranks = append(ranks, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("search: %w", err)
		}
		if len(page.Products) > limit {
			page.Products = page.Products[:limit]
			last := page.Products[limit-1]
			page.Next = &domain.SearchCursor{Rank: ranks[limit-1], Name: last.Name, ID: last.ID}
		}
		return nil
	})
	if err != nil {
		return domain.SearchPage{}, fmt.Errorf("search products: %w", err)
	}
	return page, nil
}
