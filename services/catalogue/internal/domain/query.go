package domain

import (
	"time"

	"github.com/google/uuid"
)

// Page sizes for listing and searching.
const (
	DefaultListPageSize   = 100
	MaxListPageSize       = 1000
	DefaultSearchPageSize = 20
	MaxSearchPageSize     = 100
)

// ListCursor resumes a listing after a product id.
type ListCursor struct {
	CategoryID string
	AfterID    uuid.UUID
}

// SearchFilter narrows a search. Empty and nil fields do not filter.
type SearchFilter struct {
	Query      string
	CategoryID string
	MinPrice   *int64
	MaxPrice   *int64
}

// SearchSort is the order of search results. Each is total: ties are
// broken by product id.
type SearchSort int

// The search orders.
const (
	// SortRelevance ranks matches by Rank with a text query, and orders by
	// name without one.
	SortRelevance SearchSort = iota
	SortPriceAsc
	SortPriceDesc
	// SortNewest puts the most recently created first.
	SortNewest
)

// DefaultPriceBandEdges returns the price facet's band edges in minor
// units when a search names none: under 10, 10 to 25, 25 to 50, 50 to 100,
// 100 to 250 and 250 or more in major units.
func DefaultPriceBandEdges() []int64 { return []int64{1000, 2500, 5000, 10000, 25000} }

// SearchOptions say how to answer a search, beyond which products match.
type SearchOptions struct {
	Sort SearchSort
	// Facets asks for counts over the whole match set.
	Facets bool
	// PriceBandEdges are the strictly increasing price facet edges.
	PriceBandEdges []int64
}

// SearchCursor resumes a search after the last product of a page: the sort
// key of that product for the search's order, and its id.
type SearchCursor struct {
	// Rank orders relevance with a text query: a match tier (exact 3,
	// prefix 2, fuzzy 1) plus the text rank within the tier.
	Rank float32
	// Name orders relevance without a text query.
	Name    string
	Price   int64
	Created time.Time
	ID      uuid.UUID
}

// SearchPage is one page of search results.
type SearchPage struct {
	Products []Product
	// Next resumes after this page; nil on the last page.
	Next *SearchCursor
	// Total counts matches over all pages.
	Total int
	// Facets is set when the search asked for them.
	Facets *SearchFacets
}

// SearchFacets count a search's whole match set.
type SearchFacets struct {
	// Categories with a match, most matches first, then by id.
	Categories []CategoryCount
	// PriceBands are every band in order, empty ones included.
	PriceBands []PriceBandCount
}

// CategoryCount is how many matches one category holds.
type CategoryCount struct {
	CategoryID string
	Count      int
}

// PriceBandCount is how many matches are priced in [Min, Max); Max is nil
// for the highest band.
type PriceBandCount struct {
	Min   int64
	Max   *int64
	Count int
}

// PriceBands returns the empty bands the edges make.
func PriceBands(edges []int64) []PriceBandCount {
	bands := make([]PriceBandCount, len(edges)+1)
	for i := range bands {
		if i > 0 {
			bands[i].Min = edges[i-1]
		}
		if i < len(edges) {
			bands[i].Max = &edges[i]
		}
	}
	return bands
}

// MaxSuggestions bounds a suggestion list.
const MaxSuggestions = 10

// Suggestion is a product name to complete a shopper's typing, with the
// best-matching product of that name.
type Suggestion struct {
	ProductID uuid.UUID
	Name      string
}

// PageSize applies the default and the upper bound to a requested size.
func PageSize(requested, def, maxSize int) int {
	switch {
	case requested <= 0:
		return def
	case requested > maxSize:
		return maxSize
	}
	return requested
}
