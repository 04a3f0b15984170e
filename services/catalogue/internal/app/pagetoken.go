package app

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// Page tokens are opaque to callers: base64url of a small JSON document.
// Each carries a version and what it was issued for, so a token replayed
// against another filter is refused rather than silently misapplied.
const tokenVersion = 1

// errBadToken is the answer to any token that does not decode.
func errBadToken() error {
	return apperr.Invalid("page_token", "is malformed or was issued for another request")
}

type listToken struct {
	V        int       `json:"v"`
	After    uuid.UUID `json:"a"`
	Category string    `json:"c,omitempty"`
}

func encodeListToken(c domain.ListCursor) string {
	return encodeToken(listToken{V: tokenVersion, After: c.AfterID, Category: c.CategoryID})
}

// decodeListToken returns the cursor for a request; an empty token starts
// at the beginning of category.
func decodeListToken(token, category string) (domain.ListCursor, error) {
	if token == "" {
		return domain.ListCursor{CategoryID: category}, nil
	}
	var t listToken
	if !decodeToken(token, &t) || t.V != tokenVersion || t.After == uuid.Nil || t.Category != category {
		return domain.ListCursor{}, errBadToken()
	}
	return domain.ListCursor{CategoryID: category, AfterID: t.After}, nil
}

type searchToken struct {
	V int `json:"v"`
	// Filter is a digest of the search the token belongs to.
	Filter string `json:"f"`
	// Rank is kept as the exact float32 text, so the keyset compares equal
	// to what Postgres computed.
	Rank  string `json:"r,omitempty"`
	Name  string `json:"n,omitempty"`
	Price int64  `json:"p,omitempty"`
	// Created is RFC 3339 with nanoseconds, which keeps Postgres'
	// microseconds exactly.
	Created string    `json:"t,omitempty"`
	ID      uuid.UUID `json:"i"`
}

func encodeSearchToken(c domain.SearchCursor, f domain.SearchFilter, sort domain.SearchSort) string {
	t := searchToken{V: tokenVersion, Filter: filterDigest(f, sort), ID: c.ID}
	switch {
	case sort == domain.SortPriceAsc || sort == domain.SortPriceDesc:
		t.Price = c.Price
	case sort == domain.SortNewest:
		t.Created = c.Created.UTC().Format(time.RFC3339Nano)
	case f.Query != "":
		t.Rank = strconv.FormatFloat(float64(c.Rank), 'g', -1, 32)
	default:
		t.Name = c.Name
	}
	return encodeToken(t)
}

// decodeSearchToken returns nil for an empty token (the first page).
func decodeSearchToken(token string, f domain.SearchFilter, sort domain.SearchSort) (*domain.SearchCursor, error) {
	if token == "" {
		return nil, nil
	}
	var t searchToken
	if !decodeToken(token, &t) || t.V != tokenVersion || t.ID == uuid.Nil || t.Filter != filterDigest(f, sort) {
		return nil, errBadToken()
	}
	c := &domain.SearchCursor{ID: t.ID, Name: t.Name, Price: t.Price}
	switch {
	case sort == domain.SortPriceAsc || sort == domain.SortPriceDesc:
	case sort == domain.SortNewest:
		created, err := time.Parse(time.RFC3339Nano, t.Created)
		if err != nil {
			return nil, errBadToken()
		}
		c.Created = created
	case f.Query != "":
		r, err := strconv.ParseFloat(t.Rank, 32)
		if err != nil {
			return nil, errBadToken()
		}
		c.Rank = float32(r)
	}
	return c, nil
}

// filterDigest identifies a search's filters and order in a few bytes.
func filterDigest(f domain.SearchFilter, sort domain.SearchSort) string {
	doc := struct {
		Q    string `json:"q"`
		C    string `json:"c"`
		Min  *int64 `json:"min"`
		Max  *int64 `json:"max"`
		Sort int    `json:"s,omitempty"`
	}{f.Query, f.CategoryID, f.MinPrice, f.MaxPrice, int(sort)}
	data, err := json.Marshal(doc)
	if err != nil {
		// Strings and integers always marshal.
		panic("marshal search filter: " + err.Error())
	}
	sum := sha256.Sum256(data)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

func encodeToken(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		// The token types hold only strings, integers and UUIDs.
		panic("marshal page token: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeToken(token string, v any) bool {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return false
	}
	return json.Unmarshal(data, v) == nil
}
