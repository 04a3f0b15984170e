package domain

import "github.com/google/uuid"

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

// SearchCursor resumes a search after the last product of a page. With a
// text query results are ordered by Rank descending then id; without one by
// Name then id.
type SearchCursor struct {
	Rank float32
	Name string
	ID   uuid.UUID
}

// SearchPage is one page of search results.
type SearchPage struct {
	Products []Product
	// Next resumes after this page; nil on the last page.
	Next *SearchCursor
	// Total counts matches over all pages.
	Total int
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
