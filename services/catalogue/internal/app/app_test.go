package app_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/cache"
	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/watch"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// memStore is an in-memory catalogue for use-case tests; the Postgres
// adapter has its own integration tests.
type memStore struct {
	products []domain.Product // sorted by id
	reads    int
}

func newMemStore(n int) *memStore {
	s := &memStore{}
	for i := range n {
		id, _ := uuid.NewV7()
		s.products = append(s.products, domain.Product{
			ID:            id,
			ProductFields: domain.ProductFields{Name: "p", CategoryID: []string{"even", "odd"}[i%2]},
			StockQty:      int64(i),
			UpdatedAt:     time.Unix(int64(i), 0),
		})
	}
	slices.SortFunc(s.products, func(a, b domain.Product) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return s
}

func (s *memStore) Product(_ context.Context, id uuid.UUID) (domain.Product, error) {
	s.reads++
	for _, p := range s.products {
		if p.ID == id {
			return p, nil
		}
	}
	return domain.Product{}, domain.ProductNotFound(id)
}

func (s *memStore) ProductsByID(_ context.Context, ids []uuid.UUID) ([]domain.Product, error) {
	var out []domain.Product
	for _, p := range s.products {
		if slices.Contains(ids, p.ID) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *memStore) Availability(_ context.Context, ids []uuid.UUID) ([]domain.Availability, error) {
	var out []domain.Availability
	for _, p := range s.products {
		if slices.Contains(ids, p.ID) {
			out = append(out, domain.Availability{ProductID: p.ID, Available: p.StockQty, At: p.UpdatedAt})
		}
	}
	return out, nil
}

func (s *memStore) ListPage(_ context.Context, c domain.ListCursor, limit int) ([]domain.Product, error) {
	var out []domain.Product
	for _, p := range s.products {
		if bytes.Compare(p.ID[:], c.AfterID[:]) > 0 && (c.CategoryID == "" || p.CategoryID == c.CategoryID) && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *memStore) Search(context.Context, domain.SearchFilter, domain.SearchOptions, *domain.SearchCursor, int) (domain.SearchPage, error) {
	return domain.SearchPage{}, errors.New("not implemented")
}

func (s *memStore) Suggest(context.Context, string, string, int) ([]domain.Suggestion, error) {
	return nil, errors.New("not implemented")
}

func (s *memStore) Categories(context.Context) ([]domain.Category, error) {
	return nil, errors.New("not implemented")
}

func newService(t *testing.T, store *memStore) (*app.Service, *cache.LRU[uuid.UUID, domain.Product], *watch.Hub) {
	t.Helper()
	c, err := cache.New[uuid.UUID, domain.Product](100, nil)
	if err != nil {
		t.Fatalf("new cache: %v", err)
	}
	hub, err := watch.NewHub(4, nil)
	if err != nil {
		t.Fatalf("new hub: %v", err)
	}
	svc := app.New(app.Deps{Products: store, Browser: store, Cache: c, Watches: hub}, app.Config{}, slog.New(slog.DiscardHandler))
	return svc, c, hub
}

func TestListProductsPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		total     int
		req       app.ListRequest
		wantPages []int
		wantIDs   func(all []domain.Product) []uuid.UUID
	}{
		{name: "exact pages", total: 6, req: app.ListRequest{PageSize: 3}, wantPages: []int{3, 3}},
		{name: "short last page", total: 7, req: app.ListRequest{PageSize: 3}, wantPages: []int{3, 3, 1}},
		{name: "default page size", total: 150, req: app.ListRequest{}, wantPages: []int{100, 50}},
		{name: "empty catalogue", total: 0, req: app.ListRequest{PageSize: 3}},
		{name: "category", total: 7, req: app.ListRequest{PageSize: 2, CategoryID: "odd"}, wantPages: []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemStore(tt.total)
			svc, _, _ := newService(t, store)
			var (
				sizes  []int
				got    []uuid.UUID
				tokens []string
			)
			err := svc.ListProducts(t.Context(), tt.req, func(page []domain.Product, next string) error {
				sizes = append(sizes, len(page))
				tokens = append(tokens, next)
				for _, p := range page {
					got = append(got, p.ID)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if diff := cmp.Diff(tt.wantPages, sizes); diff != "" {
				t.Errorf("page sizes (-want +got):\n%s", diff)
			}
			var want []uuid.UUID
			for _, p := range store.products {
				if tt.req.CategoryID == "" || p.CategoryID == tt.req.CategoryID {
					want = append(want, p.ID)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			for i, tok := range tokens {
				if last := i == len(tokens)-1; last != (tok == "") {
					t.Errorf("page %d of %d has token %q", i+1, len(tokens), tok)
				}
			}
		})
	}
}

func TestListProductsResumesFromToken(t *testing.T) {
	t.Parallel()
	store := newMemStore(5)
	svc, _, _ := newService(t, store)
	var first string
	errStop := errors.New("stop")
	err := svc.ListProducts(t.Context(), app.ListRequest{PageSize: 2}, func(_ []domain.Product, next string) error {
		first = next
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("list: err = %v, want the send error", err)
	}
	var got []uuid.UUID
	err = svc.ListProducts(t.Context(), app.ListRequest{PageSize: 2, PageToken: first}, func(page []domain.Product, _ string) error {
		for _, p := range page {
			got = append(got, p.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	want := []uuid.UUID{store.products[2].ID, store.products[3].ID, store.products[4].ID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resumed ids (-want +got):\n%s", diff)
	}
}

func TestGetProductUsesCache(t *testing.T) {
	t.Parallel()
	store := newMemStore(2)
	svc, c, _ := newService(t, store)
	id := store.products[0].ID
	for range 3 {
		if _, err := svc.GetProduct(t.Context(), id); err != nil {
			t.Fatalf("get: %v", err)
		}
	}
	if store.reads != 1 {
		t.Errorf("database reads = %d, want 1", store.reads)
	}
	store.products[0].Name = "renamed"
	c.Invalidate(id)
	p, err := svc.GetProduct(t.Context(), id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if p.Name != "renamed" || store.reads != 2 {
		t.Errorf("after invalidation: name %q after %d reads, want renamed after 2", p.Name, store.reads)
	}
	if _, err := svc.GetProduct(t.Context(), uuid.New()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
}

func TestWatchAvailability(t *testing.T) {
	t.Parallel()
	store := newMemStore(3)
	svc, _, hub := newService(t, store)
	ids := []uuid.UUID{store.products[2].ID, store.products[0].ID}

	w, snap, err := svc.WatchAvailability(t.Context(), ids)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Close()
	var gotIDs []uuid.UUID
	for _, a := range snap {
		gotIDs = append(gotIDs, a.ProductID)
	}
	if diff := cmp.Diff(ids, gotIDs); diff != "" {
		t.Errorf("snapshot order (-want +got):\n%s", diff)
	}

	// A change older than the snapshot is skipped; a newer one arrives.
	hub.Publish(domain.StockChange{ProductID: ids[0], Available: 99, At: snap[0].At.Add(-time.Second)})
	hub.Publish(domain.StockChange{ProductID: ids[0], Available: 1, At: snap[0].At.Add(time.Second)})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	if c.Available != 1 {
		t.Errorf("available = %d, want 1", c.Available)
	}

	missing := uuid.New()
	_, _, err = svc.WatchAvailability(t.Context(), []uuid.UUID{ids[0], missing})
	var nf *domain.NotFoundError
	if !errors.As(err, &nf) || !slices.Equal(nf.IDs, []uuid.UUID{missing}) {
		t.Errorf("unknown id: err = %v, want NotFoundError for %s", err, missing)
	}
}

// Plain http image URLs are refused unless the deployment allows them; the
// check runs before anything is stored.
func TestHTTPImageURLsNeedTheSwitch(t *testing.T) {
	t.Parallel()
	newProduct := domain.NewProduct{
		ProductFields: domain.ProductFields{
			SKU: "LAMP-1", Name: "Lamp", CategoryID: "lighting",
			Price:     domain.Money{AmountMinor: 100, CurrencyCode: "EUR"},
			ImageURLs: []string{"http://img.example.com/lamp.png"},
		},
	}
	strict := app.New(app.Deps{}, app.Config{}, slog.New(slog.DiscardHandler))
	_, err := strict.CreateProduct(t.Context(), newProduct)
	if e, ok := apperr.From(err); !ok || e.Kind != apperr.KindInvalidArgument || len(e.FieldViolations) != 1 || e.FieldViolations[0].Field != "image_urls" {
		t.Errorf("CreateProduct with an http image = %v; want INVALID_ARGUMENT on image_urls", err)
	}
	_, err = strict.UpdateProduct(t.Context(), uuid.Must(uuid.NewV7()), []string{"image_urls"}, newProduct.ProductFields)
	if e, ok := apperr.From(err); !ok || e.Kind != apperr.KindInvalidArgument {
		t.Errorf("UpdateProduct with an http image = %v; want INVALID_ARGUMENT", err)
	}
}
