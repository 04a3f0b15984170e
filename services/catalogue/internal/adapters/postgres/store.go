// Package postgres stores the catalogue in Postgres through pgx v5. Every
// write commits together with its event in the outbox, and every stock
// change locks product rows in id order so that concurrent reservations
// cannot deadlock.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/storefront-go/storefront/libs/outbox"
	libpg "github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// versionTable records which catalogue migrations ran.
const versionTable = "catalogue_schema_version"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies the service's own migrations; the host applies the
// outbox's and the consumer inbox's before them.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := libpg.MigrateDir(ctx, pool, migrations, "migrations", versionTable); err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	return nil
}

// Store is the catalogue's storage. Writes and reservations run on the
// main pool; reads run on the lane of their caller, so strangers' browsing
// waits on a pool of its own.
type Store struct {
	pool  *pgxpool.Pool
	lanes libpg.Lanes
}

// New returns a Store over lanes.
func New(lanes libpg.Lanes) *Store {
	return &Store{pool: lanes.Main, lanes: lanes}
}

// Postgres error codes and constraints the store turns into domain errors.
const (
	codeUniqueViolation = "23505"
	constraintSKU       = "products_sku_key"
)

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation && pgErr.ConstraintName == constraint
}

// productColumns lists what scanProduct reads, in order.
const productColumns = `id, sku, name, description, category_id, price_minor, currency_code,
	stock_qty, image_urls, created_at, updated_at`

// scanProduct reads productColumns, plus any extra destinations after them.
func scanProduct(row pgx.Row, extra ...any) (domain.Product, error) {
	var p domain.Product
	dest := []any{
		&p.ID, &p.SKU, &p.Name, &p.Description, &p.CategoryID, &p.Price.AmountMinor, &p.Price.CurrencyCode,
		&p.StockQty, &p.ImageURLs, &p.CreatedAt, &p.UpdatedAt,
	}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return domain.Product{}, err
	}
	return p, nil
}

// collectProducts scans every row; callers bound the row count with LIMIT.
func collectProducts(rows pgx.Rows) ([]domain.Product, error) {
	defer rows.Close()
	var out []domain.Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// enqueue stores an event in the outbox as part of tx.
func enqueue(ctx context.Context, tx pgx.Tx, subject string, event proto.Message) error {
	if _, err := outbox.Enqueue(ctx, tx, subject, event); err != nil {
		return err
	}
	return nil
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// stockUpdate changes a product's stock by delta, if the result is not
// negative, and stamps the change with a time later than the previous one.
// It returns false when the product is gone or the stock would go negative.
const stockUpdate = `
UPDATE products
SET stock_qty = stock_qty + $2,
    updated_at = now(),
    stock_changed_at = GREATEST(clock_timestamp(), stock_changed_at + interval '1 microsecond')
WHERE id = $1 AND stock_qty + $2 >= 0
RETURNING stock_qty, stock_changed_at`

// changeStock applies one stock change and enqueues its StockChanged event.
// ok is false when no row matched.
func changeStock(ctx context.Context, tx pgx.Tx, c domain.StockChange) (bool, error) {
	err := tx.QueryRow(ctx, stockUpdate, c.ProductID, c.Delta).Scan(&c.Available, &c.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("update stock of product %s: %w", c.ProductID, err)
	}
	if err := enqueue(ctx, tx, contract.SubjectStockChanged, contract.StockChanged(c)); err != nil {
		return false, err
	}
	return true, nil
}
