package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// GetProduct returns a product, from the cache when it holds it.
func (s *Service) GetProduct(ctx context.Context, id uuid.UUID) (domain.Product, error) {
	p, gen, ok := s.d.Cache.Get(id)
	if ok {
		return p, nil
	}
	p, err := s.d.Products.Product(ctx, id)
	if err != nil {
		return domain.Product{}, err
	}
	s.d.Cache.Put(id, p, gen)
	return p, nil
}

// BatchGetProducts returns the products that exist among ids in request
// order, and the ids that don't.
func (s *Service) BatchGetProducts(ctx context.Context, ids []uuid.UUID) ([]domain.Product, []uuid.UUID, error) {
	found, err := s.d.Products.ProductsByID(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[uuid.UUID]domain.Product, len(found))
	for _, p := range found {
		byID[p.ID] = p
	}
	products := make([]domain.Product, 0, len(found))
	var missing []uuid.UUID
	for _, id := range ids {
		if p, ok := byID[id]; ok {
			products = append(products, p)
		} else {
			missing = append(missing, id)
		}
	}
	return products, missing, nil
}

// ListRequest asks for the catalogue in id order.
type ListRequest struct {
	PageSize   int
	PageToken  string
	CategoryID string
}

// ListProducts calls send with one page at a time, in id order, with the
// token that resumes after it ("" on the last page). Each page is its own
// keyset query, so memory stays flat however large the catalogue is, and
// no connection is held while the client is slow to read.
func (s *Service) ListProducts(ctx context.Context, req ListRequest, send func(page []domain.Product, nextToken string) error) error {
	cursor, err := decodeListToken(req.PageToken, req.CategoryID)
	if err != nil {
		return err
	}
	size := domain.PageSize(req.PageSize, domain.DefaultListPageSize, domain.MaxListPageSize)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// One extra row tells whether another page follows.
		page, err := s.d.Browser.ListPage(ctx, cursor, size+1)
		if err != nil {
			return err
		}
		more := len(page) > size
		if more {
			page = page[:size]
		}
		if len(page) == 0 {
			return nil
		}
		cursor.AfterID = page[len(page)-1].ID
		next := ""
		if more {
			next = encodeListToken(cursor)
		}
		if err := send(page, next); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// SearchRequest is a full-text search with filters.
type SearchRequest struct {
	Filter    domain.SearchFilter
	Options   domain.SearchOptions
	PageSize  int
	PageToken string
}

// SearchResult is one page of a search.
type SearchResult struct {
	Products      []domain.Product
	NextPageToken string
	Total         int
	// Facets is set when the request asked for them.
	Facets *domain.SearchFacets
}

// SearchProducts runs one page of a search.
func (s *Service) SearchProducts(ctx context.Context, req SearchRequest) (SearchResult, error) {
	opts := req.Options
	if len(opts.PriceBandEdges) == 0 {
		opts.PriceBandEdges = domain.DefaultPriceBandEdges()
	}
	for i := 1; i < len(opts.PriceBandEdges); i++ {
		if opts.PriceBandEdges[i] <= opts.PriceBandEdges[i-1] {
			return SearchResult{}, apperr.Invalid("price_band_edges_minor", "must be strictly increasing")
		}
	}
	after, err := decodeSearchToken(req.PageToken, req.Filter, opts.Sort)
	if err != nil {
		return SearchResult{}, err
	}
	size := domain.PageSize(req.PageSize, domain.DefaultSearchPageSize, domain.MaxSearchPageSize)
	page, err := s.d.Browser.Search(ctx, req.Filter, opts, after, size)
	if err != nil {
		return SearchResult{}, err
	}
	res := SearchResult{Products: page.Products, Total: page.Total, Facets: page.Facets}
	if page.Next != nil {
		res.NextPageToken = encodeSearchToken(*page.Next, req.Filter, opts.Sort)
	}
	return res, nil
}

// SuggestProducts returns up to limit (default and at most
// domain.MaxSuggestions) product names for what has been typed.
func (s *Service) SuggestProducts(ctx context.Context, prefix, categoryID string, limit int) ([]domain.Suggestion, error) {
	return s.d.Browser.Suggest(ctx, prefix, categoryID, domain.PageSize(limit, domain.MaxSuggestions, domain.MaxSuggestions))
}

// ListCategories returns every category.
func (s *Service) ListCategories(ctx context.Context) ([]domain.Category, error) {
	return s.d.Browser.Categories(ctx)
}

// CreateProduct adds a product under a new time-ordered id, creating its
// category on first use.
func (s *Service) CreateProduct(ctx context.Context, n domain.NewProduct) (domain.Product, error) {
	if err := n.Validate(); err != nil {
		return domain.Product{}, err
	}
	if err := s.checkImageScheme(n.ImageURLs); err != nil {
		return domain.Product{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return domain.Product{}, fmt.Errorf("new product id: %w", err)
	}
	return s.d.Writer.CreateProduct(ctx, domain.Product{ID: id, ProductFields: n.ProductFields, StockQty: n.StockQty})
}

// UpdateProduct sets the fields named in paths to their values in v.
func (s *Service) UpdateProduct(ctx context.Context, id uuid.UUID, paths []string, v domain.ProductFields) (domain.Product, error) {
	if slices.Contains(paths, domain.FieldImageURLs) {
		if err := s.checkImageScheme(v.ImageURLs); err != nil {
			return domain.Product{}, err
		}
	}
	p, err := s.d.Writer.UpdateProduct(ctx, id, func(p *domain.Product) ([]string, error) {
		return p.Apply(paths, v)
	})
	if err != nil {
		return domain.Product{}, err
	}
	// This replica reads its own write at once; others wait for the event.
	s.d.Cache.Invalidate(id)
	return p, nil
}

// checkImageScheme refuses plain http image URLs unless this deployment
// allows them: pages served over https must not load images over http.
func (s *Service) checkImageScheme(urls []string) error {
	if s.cfg.AllowHTTPImages {
		return nil
	}
	for _, u := range urls {
		if strings.HasPrefix(strings.ToLower(u), "http://") {
			return apperr.Invalid(domain.FieldImageURLs, "must hold https URLs")
		}
	}
	return nil
}

// DeleteProduct removes a product.
func (s *Service) DeleteProduct(ctx context.Context, id uuid.UUID) error {
	if err := s.d.Writer.DeleteProduct(ctx, id); err != nil {
		return err
	}
	s.d.Cache.Invalidate(id)
	return nil
}

// AdjustStock changes a product's stock by delta; reason is logged.
func (s *Service) AdjustStock(ctx context.Context, id uuid.UUID, delta int64, reason string) (domain.Product, error) {
	if delta == 0 || delta < -domain.MaxStockDelta || delta > domain.MaxStockDelta {
		return domain.Product{}, apperr.Invalid("delta", "must be a non-zero change of at most 1000000 units")
	}
	p, err := s.d.Stock.AdjustStock(ctx, id, delta)
	if err != nil {
		return domain.Product{}, err
	}
	s.d.Cache.Invalidate(id)
	s.logger.InfoContext(ctx, "stock adjusted",
		slog.String("product_id", id.String()), slog.Int64("delta", delta),
		slog.Int64("stock_qty", p.StockQty), slog.String("reason", reason))
	return p, nil
}
