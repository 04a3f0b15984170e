package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// Product returns one product.
func (s *Store) Product(ctx context.Context, id uuid.UUID) (domain.Product, error) {
	p, err := scanProduct(s.lanes.Reader(ctx).QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Product{}, domain.ProductNotFound(id)
	}
	if err != nil {
		return domain.Product{}, fmt.Errorf("get product %s: %w", id, err)
	}
	return p, nil
}

// ProductsByID returns the products that exist among ids.
func (s *Store) ProductsByID(ctx context.Context, ids []uuid.UUID) ([]domain.Product, error) {
	rows, err := s.lanes.Reader(ctx).Query(ctx, `SELECT `+productColumns+` FROM products WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("get %d products: %w", len(ids), err)
	}
	ps, err := collectProducts(rows)
	if err != nil {
		return nil, fmt.Errorf("get %d products: %w", len(ids), err)
	}
	return ps, nil
}

// Availability returns the stock of the products that exist among ids,
// each with the time of its last stock change.
func (s *Store) Availability(ctx context.Context, ids []uuid.UUID) ([]domain.Availability, error) {
	rows, err := s.lanes.Reader(ctx).Query(ctx, `SELECT id, stock_qty, stock_changed_at FROM products WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("get availability of %d products: %w", len(ids), err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Availability, error) {
		var a domain.Availability
		err := row.Scan(&a.ProductID, &a.Available, &a.At)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("get availability of %d products: %w", len(ids), err)
	}
	return out, nil
}

// ListPage returns up to limit products after the cursor, in id order. It
// is one keyset query on the primary key (or the category index).
func (s *Store) ListPage(ctx context.Context, c domain.ListCursor, limit int) ([]domain.Product, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if c.CategoryID == "" {
		rows, err = s.lanes.Reader(ctx).Query(ctx,
			`SELECT `+productColumns+` FROM products WHERE id > $1 ORDER BY id LIMIT $2`, c.AfterID, limit)
	} else {
		rows, err = s.lanes.Reader(ctx).Query(ctx,
			`SELECT `+productColumns+` FROM products WHERE category_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
			c.CategoryID, c.AfterID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list products after %s: %w", c.AfterID, err)
	}
	ps, err := collectProducts(rows)
	if err != nil {
		return nil, fmt.Errorf("list products after %s: %w", c.AfterID, err)
	}
	return ps, nil
}

// Categories returns every category ordered by id.
func (s *Store) Categories(ctx context.Context) ([]domain.Category, error) {
	rows, err := s.lanes.Reader(ctx).Query(ctx, `SELECT id, name FROM categories ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Category, error) {
		var c domain.Category
		err := row.Scan(&c.ID, &c.Name)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	return cs, nil
}

// ensureCategory creates a category on first use, named after its slug.
func ensureCategory(ctx context.Context, tx pgx.Tx, slug string) error {
	_, err := tx.Exec(ctx, `INSERT INTO categories (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		slug, domain.CategoryName(slug))
	if err != nil {
		return fmt.Errorf("ensure category %s: %w", slug, err)
	}
	return nil
}

// CreateProduct inserts p and enqueues ProductCreated.
func (s *Store) CreateProduct(ctx context.Context, p domain.Product) (domain.Product, error) {
	err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := ensureCategory(ctx, tx, p.CategoryID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO products (id, sku, name, description, category_id, price_minor, currency_code, stock_qty, image_urls)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING created_at, updated_at`,
			p.ID, p.SKU, p.Name, p.Description, p.CategoryID, p.Price.AmountMinor, p.Price.CurrencyCode,
			p.StockQty, nonNil(p.ImageURLs),
		).Scan(&p.CreatedAt, &p.UpdatedAt)
		if isUniqueViolation(err, constraintSKU) {
			return domain.DuplicateSKU(p.SKU)
		}
		if err != nil {
			return fmt.Errorf("insert product %s: %w", p.ID, err)
		}
		return enqueue(ctx, tx, contract.SubjectProductCreated, &cataloguev1.ProductCreated{
			Product:    contract.Product(p),
			OccurredAt: ts(p.CreatedAt),
		})
	})
	if err != nil {
		return domain.Product{}, fmt.Errorf("create product %s: %w", p.SKU, err)
	}
	return p, nil
}

// UpdateProduct locks the product, applies fn and, when fn changed
// something, stores the product and enqueues ProductUpdated.
func (s *Store) UpdateProduct(ctx context.Context, id uuid.UUID, fn func(*domain.Product) ([]string, error)) (domain.Product, error) {
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
		oldCategory := p.CategoryID
		changed, err := fn(&p)
		if err != nil || len(changed) == 0 {
			return err
		}
		if p.CategoryID != oldCategory {
			if err := ensureCategory(ctx, tx, p.CategoryID); err != nil {
				return err
			}
		}
		err = tx.QueryRow(ctx, `
			UPDATE products
			SET sku = $2, name = $3, description = $4, category_id = $5, price_minor = $6, currency_code = $7,
			    image_urls = $8, updated_at = now()
			WHERE id = $1
			RETURNING updated_at`,
			id, p.SKU, p.Name, p.Description, p.CategoryID, p.Price.AmountMinor, p.Price.CurrencyCode, nonNil(p.ImageURLs),
		).Scan(&p.UpdatedAt)
		if isUniqueViolation(err, constraintSKU) {
			return domain.DuplicateSKU(p.SKU)
		}
		if err != nil {
			return fmt.Errorf("store product: %w", err)
		}
		return enqueue(ctx, tx, contract.SubjectProductUpdated, &cataloguev1.ProductUpdated{
			Product:       contract.Product(p),
			ChangedFields: changed,
			OccurredAt:    ts(p.UpdatedAt),
		})
	})
	if err != nil {
		return domain.Product{}, fmt.Errorf("update product %s: %w", id, err)
	}
	return p, nil
}

// DeleteProduct deletes a product and enqueues ProductDeleted.
func (s *Store) DeleteProduct(ctx context.Context, id uuid.UUID) error {
	err := libpg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var at time.Time
		err := tx.QueryRow(ctx, `DELETE FROM products WHERE id = $1 RETURNING now()`, id).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ProductNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		return enqueue(ctx, tx, contract.SubjectProductDeleted, &cataloguev1.ProductDeleted{ProductId: id.String(), OccurredAt: ts(at)})
	})
	if err != nil {
		return fmt.Errorf("delete product %s: %w", id, err)
	}
	return nil
}

// nonNil stores an empty array rather than NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
