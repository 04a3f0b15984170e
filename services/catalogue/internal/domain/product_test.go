package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

func validFields() domain.ProductFields {
	return domain.ProductFields{
		SKU:         "LAMP-1",
		Name:        "Desk lamp",
		Description: "A lamp for desks.",
		CategoryID:  "home-office",
		Price:       domain.Money{AmountMinor: 1999, CurrencyCode: "EUR"},
		ImageURLs:   []string{"https://img.example.com/lamp.png"},
	}
}

// fields lists the fields named by a validation error, or nil.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var verr *apperr.Error
	if !errors.As(err, &verr) || verr.Kind != apperr.KindInvalidArgument {
		t.Fatalf("error %v is not an invalid-argument *apperr.Error", err)
	}
	if !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
	}
	var out []string
	for _, v := range verr.FieldViolations {
		out = append(out, v.Field)
	}
	return out
}

func TestNewProductValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*domain.NewProduct)
		want []string
	}{
		{name: "valid", edit: func(*domain.NewProduct) {}},
		{name: "lower-case sku", edit: func(n *domain.NewProduct) { n.SKU = "lamp-1" }, want: []string{"sku"}},
		{name: "sku starting with dash", edit: func(n *domain.NewProduct) { n.SKU = "-LAMP" }, want: []string{"sku"}},
		{name: "empty name", edit: func(n *domain.NewProduct) { n.Name = "" }, want: []string{"name"}},
		{name: "200 multibyte characters", edit: func(n *domain.NewProduct) { n.Name = strings.Repeat("é", 200) }},
		{name: "201 characters", edit: func(n *domain.NewProduct) { n.Name = strings.Repeat("a", 201) }, want: []string{"name"}},
		{name: "long description", edit: func(n *domain.NewProduct) { n.Description = strings.Repeat("a", 5001) }, want: []string{"description"}},
		{name: "category with capitals", edit: func(n *domain.NewProduct) { n.CategoryID = "Home" }, want: []string{"category_id"}},
		{
			name: "bad price",
			edit: func(n *domain.NewProduct) { n.Price = domain.Money{AmountMinor: -1, CurrencyCode: "eur"} },
			want: []string{"price.amount_minor", "price.currency_code"},
		},
		{name: "relative image url", edit: func(n *domain.NewProduct) { n.ImageURLs = []string{"/lamp.png"} }, want: []string{"image_urls"}},
		{name: "javascript image url", edit: func(n *domain.NewProduct) { n.ImageURLs = []string{"javascript:alert(1)"} }, want: []string{"image_urls"}},
		{name: "data image url", edit: func(n *domain.NewProduct) { n.ImageURLs = []string{"data:image/png;base64,AAAA"} }, want: []string{"image_urls"}},
		{name: "ftp image url", edit: func(n *domain.NewProduct) { n.ImageURLs = []string{"ftp://img.example.com/lamp.png"} }, want: []string{"image_urls"}},
		{name: "image url with credentials", edit: func(n *domain.NewProduct) { n.ImageURLs = []string{"https://user:pw@img.example.com/lamp.png"} }, want: []string{"image_urls"}},
		{name: "too many images", edit: func(n *domain.NewProduct) { n.ImageURLs = make([]string, 11) }, want: []string{"image_urls"}},
		{name: "negative stock", edit: func(n *domain.NewProduct) { n.StockQty = -1 }, want: []string{"stock_qty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := domain.NewProduct{ProductFields: validFields(), StockQty: 3}
			tt.edit(&n)
			if diff := cmp.Diff(tt.want, fields(t, n.Validate())); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProductApply(t *testing.T) {
	t.Parallel()
	newValues := domain.ProductFields{
		SKU:         "LAMP-2",
		Name:        "Floor lamp",
		Description: "Tall.",
		CategoryID:  "lighting",
		Price:       domain.Money{AmountMinor: 4999, CurrencyCode: "EUR"},
		ImageURLs:   []string{"https://img.example.com/floor.png"},
	}
	tests := []struct {
		name        string
		paths       []string
		values      domain.ProductFields
		wantChanged []string
		wantInvalid []string
		want        func(*domain.ProductFields)
	}{
		{
			name:        "name and price",
			paths:       []string{"name", "price"},
			values:      newValues,
			wantChanged: []string{"name", "price"},
			want: func(f *domain.ProductFields) {
				f.Name = newValues.Name
				f.Price = newValues.Price
			},
		},
		{
			name:   "same values change nothing",
			paths:  []string{"sku", "image_urls"},
			values: validFields(),
		},
		{
			name:        "every field",
			paths:       []string{"sku", "name", "description", "category_id", "price", "image_urls"},
			values:      newValues,
			wantChanged: []string{"sku", "name", "description", "category_id", "price", "image_urls"},
			want:        func(f *domain.ProductFields) { *f = newValues },
		},
		{
			name:        "clearing the description is allowed",
			paths:       []string{"description"},
			values:      domain.ProductFields{},
			wantChanged: []string{"description"},
			want:        func(f *domain.ProductFields) { f.Description = "" },
		},
		{name: "empty mask", paths: nil, values: newValues, wantInvalid: []string{"update_mask"}},
		{name: "unknown path", paths: []string{"stock_qty"}, values: newValues, wantInvalid: []string{"update_mask"}},
		{name: "repeated path", paths: []string{"name", "name"}, values: newValues, wantInvalid: []string{"update_mask"}},
		{
			name:        "invalid masked values",
			paths:       []string{"name", "price"},
			values:      domain.ProductFields{Price: domain.Money{CurrencyCode: "EURO"}},
			wantInvalid: []string{"product.name", "product.price.currency_code"},
		},
		{
			name:        "unmasked invalid values are ignored",
			paths:       []string{"description"},
			values:      domain.ProductFields{Description: "New.", Name: ""},
			wantChanged: []string{"description"},
			want:        func(f *domain.ProductFields) { f.Description = "New." },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := domain.Product{ID: uuid.New(), ProductFields: validFields()}
			changed, err := p.Apply(tt.paths, tt.values)
			if diff := cmp.Diff(tt.wantInvalid, fields(t, err)); diff != "" {
				t.Fatalf("violations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantChanged, changed); diff != "" {
				t.Errorf("changed fields (-want +got):\n%s", diff)
			}
			want := validFields()
			if tt.want != nil {
				tt.want(&want)
			}
			if diff := cmp.Diff(want, p.ProductFields); diff != "" {
				t.Errorf("product after Apply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyStockDelta(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	tests := []struct {
		name           string
		current, delta int64
		want           int64
		wantErr        error
	}{
		{name: "restock", current: 2, delta: 5, want: 7},
		{name: "write off all", current: 5, delta: -5, want: 0},
		{name: "below zero", current: 2, delta: -3, wantErr: domain.ErrInsufficientStock},
		{name: "zero delta", current: 2, delta: 0, wantErr: domain.ErrInvalid},
		{name: "too large", current: 2, delta: domain.MaxStockDelta + 1, wantErr: domain.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.ApplyStockDelta(id, tt.current, tt.delta)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("stock = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestInsufficientStockNamesProduct(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("0193a3c4-0000-7000-8000-000000000009")
	_, err := domain.ApplyStockDelta(id, 1, -4)
	want := "insufficient stock: product 0193a3c4-0000-7000-8000-000000000009: requested 4, available 1"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestCategoryName(t *testing.T) {
	t.Parallel()
	for slug, want := range map[string]string{
		"home-garden": "Home Garden",
		"books":       "Books",
		"a--b":        "A B",
		"4k-tv":       "4k Tv",
	} {
		if got := domain.CategoryName(slug); got != want {
			t.Errorf("CategoryName(%q) = %q, want %q", slug, got, want)
		}
	}
}
