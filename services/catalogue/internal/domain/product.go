package domain

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
)

// Limits on product fields. They match the contract's validation rules, so
// a value the API accepts is also one the domain accepts.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 5000
	MaxImageURLs      = 10
	// MaxStockDelta bounds one stock adjustment.
	MaxStockDelta = 1_000_000
)

// Field paths of a product that UpdateProduct may change.
const (
	FieldSKU         = "sku"
	FieldName        = "name"
	FieldDescription = "description"
	FieldCategoryID  = "category_id"
	FieldPrice       = "price"
	FieldImageURLs   = "image_urls"
)

var (
	skuPattern      = regexp.MustCompile(`\A[A-Z0-9][A-Z0-9-]{0,63}\z`)
	categoryPattern = regexp.MustCompile(`\A[a-z0-9][a-z0-9-]{0,63}\z`)
	currencyPattern = regexp.MustCompile(`\A[A-Z]{3}\z`)
)

// Money is an amount in a currency's minor units; never a float.
type Money struct {
	AmountMinor  int64
	CurrencyCode string
}

// Category groups products. Its id is a slug.
type Category struct {
	ID   string
	Name string
}

// CategoryName derives a display name from a slug ("home-garden" becomes
// "Home Garden"), for categories created on first use.
func CategoryName(slug string) string {
	words := strings.Split(slug, "-")
	out := words[:0]
	for _, w := range words {
		if w == "" {
			continue
		}
		out = append(out, strings.ToUpper(w[:1])+w[1:])
	}
	return strings.Join(out, " ")
}

// ProductFields are the values a caller chooses for a product.
type ProductFields struct {
	SKU         string
	Name        string
	Description string
	CategoryID  string
	Price       Money
	ImageURLs   []string
}

// Product is one sellable item.
type Product struct {
	ID uuid.UUID
	ProductFields
	// StockQty is the number of units available to reserve.
	StockQty  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewProduct is a product to create.
type NewProduct struct {
	ProductFields
	StockQty int64
}

// Validate checks every field and reports all violations at once.
func (n NewProduct) Validate() error {
	var vs []apperr.FieldViolation
	for _, f := range []string{FieldSKU, FieldName, FieldDescription, FieldCategoryID, FieldPrice, FieldImageURLs} {
		vs = append(vs, n.check(f)...)
	}
	if n.StockQty < 0 {
		vs = append(vs, apperr.FieldViolation{Field: "stock_qty", Description: "must not be negative"})
	}
	if len(vs) > 0 {
		return apperr.InvalidFields(vs...)
	}
	return nil
}

// check returns the violations of one field.
func (f ProductFields) check(field string) []apperr.FieldViolation {
	bad := func(path, desc string) []apperr.FieldViolation {
		return []apperr.FieldViolation{{Field: path, Description: desc}}
	}
	switch field {
	case FieldSKU:
		if !skuPattern.MatchString(f.SKU) {
			return bad(field, "must be 1 to 64 upper-case letters, digits or dashes, not starting with a dash")
		}
	case FieldName:
		if n := utf8.RuneCountInString(f.Name); n < 1 || n > MaxNameLen {
			return bad(field, "must be 1 to 200 characters")
		}
	case FieldDescription:
		if utf8.RuneCountInString(f.Description) > MaxDescriptionLen {
			return bad(field, "must be at most 5000 characters")
		}
	case FieldCategoryID:
		if !categoryPattern.MatchString(f.CategoryID) {
			return bad(field, "must be a slug of 1 to 64 lower-case letters, digits or dashes")
		}
	case FieldPrice:
		var vs []apperr.FieldViolation
		if f.Price.AmountMinor < 0 {
			vs = append(vs, apperr.FieldViolation{Field: "price.amount_minor", Description: "must not be negative"})
		}
		if !currencyPattern.MatchString(f.Price.CurrencyCode) {
			vs = append(vs, apperr.FieldViolation{Field: "price.currency_code", Description: "must be an ISO-4217 code such as EUR"})
		}
		return vs
	case FieldImageURLs:
		if len(f.ImageURLs) > MaxImageURLs {
			return bad(field, "must hold at most 10 URLs")
		}
		for _, u := range f.ImageURLs {
			if !isWebURL(u) {
				return bad(field, "must hold http or https URLs")
			}
		}
	default:
		return bad("update_mask", "cannot update field "+field)
	}
	return nil
}

// isWebURL accepts absolute http and https URLs only: an image URL ends
// up in a browser, where javascript:, data: and other schemes run or
// smuggle content.
func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// Apply sets the fields named in paths to their values in v and returns the
// paths whose value actually changed, in the order given. It checks the new
// values and changes nothing when any is invalid. Unknown or repeated paths
// are rejected.
func (p *Product) Apply(paths []string, v ProductFields) ([]string, error) {
	if len(paths) == 0 {
		return nil, apperr.Invalid("update_mask", "must name at least one field")
	}
	var vs []apperr.FieldViolation
	seen := make(map[string]bool, len(paths))
	for _, path := range paths {
		if seen[path] {
			vs = append(vs, apperr.FieldViolation{Field: "update_mask", Description: "names " + path + " more than once"})
			continue
		}
		seen[path] = true
		for _, fv := range v.check(path) {
			if fv.Field != "update_mask" {
				fv.Field = "product." + fv.Field
			}
			vs = append(vs, fv)
		}
	}
	if len(vs) > 0 {
		return nil, apperr.InvalidFields(vs...)
	}
	var changed []string
	for _, path := range paths {
		if p.set(path, v) {
			changed = append(changed, path)
		}
	}
	return changed, nil
}

// set copies one field from v and reports whether it changed.
func (p *Product) set(path string, v ProductFields) bool {
	f := &p.ProductFields
	switch path {
	case FieldSKU:
		return assign(&f.SKU, v.SKU)
	case FieldName:
		return assign(&f.Name, v.Name)
	case FieldDescription:
		return assign(&f.Description, v.Description)
	case FieldCategoryID:
		return assign(&f.CategoryID, v.CategoryID)
	case FieldPrice:
		return assign(&f.Price, v.Price)
	case FieldImageURLs:
		if slices.Equal(f.ImageURLs, v.ImageURLs) {
			return false
		}
		f.ImageURLs = slices.Clone(v.ImageURLs)
		return true
	}
	return false
}

func assign[T comparable](dst *T, v T) bool {
	if *dst == v {
		return false
	}
	*dst = v
	return true
}

// ApplyStockDelta returns the stock after adding delta to current, or an
// InsufficientStockError when it would go below zero.
func ApplyStockDelta(id uuid.UUID, current, delta int64) (int64, error) {
	if delta == 0 || delta < -MaxStockDelta || delta > MaxStockDelta {
		return 0, apperr.Invalid("delta", "must be a non-zero change of at most 1000000 units")
	}
	if current+delta < 0 {
		return 0, &InsufficientStockError{Shortages: []Shortage{{ProductID: id, Requested: -delta, Available: current}}}
	}
	return current + delta, nil
}

// StockChange records a change of one product's stock. At comes from the
// database under the product's row lock and grows with every change of that
// product, so watchers can drop changes that arrive out of order.
type StockChange struct {
	ProductID     uuid.UUID
	Available     int64
	Delta         int64
	Reason        string
	ReservationID uuid.UUID
	At            time.Time
}

// Reasons for a stock change, as carried by catalogue.v1.StockChanged.
const (
	ReasonReserve   = "reserve"
	ReasonRelease   = "release"
	ReasonExpire    = "expire"
	ReasonAdjust    = "adjust"
	ReasonReinstate = "reinstate"
)

// Availability is a product's stock as of a point in its change history.
type Availability struct {
	ProductID uuid.UUID
	Available int64
	// At is the time of the change that produced Available.
	At time.Time
}
