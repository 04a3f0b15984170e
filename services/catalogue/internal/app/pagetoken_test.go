package app

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

func TestListTokenRoundTrip(t *testing.T) {
	t.Parallel()
	for _, category := range []string{"", "books"} {
		c := domain.ListCursor{CategoryID: category, AfterID: uuid.New()}
		got, err := decodeListToken(encodeListToken(c), category)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("cursor (-want +got):\n%s", diff)
		}
	}
	got, err := decodeListToken("", "books")
	if err != nil || got != (domain.ListCursor{CategoryID: "books"}) {
		t.Errorf("empty token = %+v, %v; want the start of books", got, err)
	}
}

func TestSearchTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter domain.SearchFilter
		sort   domain.SearchSort
		cursor domain.SearchCursor
		want   domain.SearchCursor
	}{
		{
			name:   "ranked",
			filter: domain.SearchFilter{Query: "lamp", MinPrice: new(int64(0))},
			cursor: domain.SearchCursor{Rank: 0.0607927, Name: "ignored", ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000001")},
			want:   domain.SearchCursor{Rank: 0.0607927, ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000001")},
		},
		{
			name:   "ranked with an awkward float",
			filter: domain.SearchFilter{Query: "desk lamp"},
			cursor: domain.SearchCursor{Rank: 1.0 / 3.0, ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000002")},
			want:   domain.SearchCursor{Rank: 1.0 / 3.0, ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000002")},
		},
		{
			name:   "by name",
			filter: domain.SearchFilter{CategoryID: "books", MaxPrice: new(int64(500))},
			cursor: domain.SearchCursor{Rank: 0.5, Name: "Zoë's book", ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000003")},
			want:   domain.SearchCursor{Name: "Zoë's book", ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000003")},
		},
		{
			name:   "by price",
			filter: domain.SearchFilter{Query: "lamp"},
			sort:   domain.SortPriceDesc,
			cursor: domain.SearchCursor{Rank: 2.5, Price: 1999, ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000004")},
			want:   domain.SearchCursor{Price: 1999, ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000004")},
		},
		{
			name:   "newest, to the microsecond",
			sort:   domain.SortNewest,
			cursor: domain.SearchCursor{Created: time.Date(2026, 12, 7, 3, 4, 5, 123456000, time.UTC), ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000005")},
			want:   domain.SearchCursor{Created: time.Date(2026, 12, 7, 3, 4, 5, 123456000, time.UTC), ID: uuid.MustParse("0193a3c4-0000-7000-8000-000000000005")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeSearchToken(encodeSearchToken(tt.cursor, tt.filter, tt.sort), tt.filter, tt.sort)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("cursor (-want +got):\n%s", diff)
			}
		})
	}
	if got, err := decodeSearchToken("", domain.SearchFilter{}, domain.SortRelevance); got != nil || err != nil {
		t.Errorf("empty token = %v, %v; want nil, nil", got, err)
	}
}

func TestBadTokens(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	listToken := encodeListToken(domain.ListCursor{CategoryID: "books", AfterID: id})
	filter := domain.SearchFilter{Query: "lamp", MinPrice: new(int64(100))}
	searchToken := encodeSearchToken(domain.SearchCursor{Rank: 0.5, ID: id}, filter, domain.SortRelevance)
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

	tests := []struct {
		name   string
		decode func() error
	}{
		{"list: not base64", func() error { _, err := decodeListToken("!!!", ""); return err }},
		{"list: not json", func() error { _, err := decodeListToken(raw("nope"), ""); return err }},
		{"list: other version", func() error { _, err := decodeListToken(raw(`{"v":2,"a":"`+id.String()+`"}`), ""); return err }},
		{"list: no id", func() error { _, err := decodeListToken(raw(`{"v":1}`), ""); return err }},
		{"list: other category", func() error { _, err := decodeListToken(listToken, "toys"); return err }},
		{"list: search token", func() error { _, err := decodeListToken(searchToken, ""); return err }},
		{"search: other query", func() error {
			_, err := decodeSearchToken(searchToken, domain.SearchFilter{Query: "desk", MinPrice: new(int64(100))}, domain.SortRelevance)
			return err
		}},
		{"search: other price filter", func() error {
			_, err := decodeSearchToken(searchToken, domain.SearchFilter{Query: "lamp", MinPrice: new(int64(101))}, domain.SortRelevance)
			return err
		}},
		{"search: other sort", func() error { _, err := decodeSearchToken(searchToken, filter, domain.SortPriceAsc); return err }},
		{"search: newest without a time", func() error {
			tok := encodeSearchToken(domain.SearchCursor{ID: id}, filter, domain.SortPriceAsc)
			_, err := decodeSearchToken(tok, filter, domain.SortNewest)
			return err
		}},
		{"search: list token", func() error { _, err := decodeSearchToken(listToken, filter, domain.SortRelevance); return err }},
		{"search: truncated", func() error {
			_, err := decodeSearchToken(searchToken[:len(searchToken)-3], filter, domain.SortRelevance)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.decode()
			var verr *apperr.Error
			if !errors.As(err, &verr) || verr.Kind != apperr.KindInvalidArgument || len(verr.FieldViolations) != 1 || verr.FieldViolations[0].Field != "page_token" {
				t.Errorf("err = %v, want a page_token violation", err)
			}
		})
	}
}

func FuzzDecodeTokens(f *testing.F) {
	f.Add(encodeListToken(domain.ListCursor{AfterID: uuid.New()}))
	f.Add(encodeSearchToken(domain.SearchCursor{Rank: 0.25, ID: uuid.New()}, domain.SearchFilter{Query: "x"}, domain.SortRelevance))
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, token string) {
		// Decoding never panics, and whatever decodes re-encodes to a token
		// that decodes to the same cursor.
		if c, err := decodeListToken(token, ""); err == nil && token != "" {
			again, err := decodeListToken(encodeListToken(c), "")
			if err != nil || again != c {
				t.Errorf("list cursor %+v did not round-trip: %+v, %v", c, again, err)
			}
		}
		filter := domain.SearchFilter{Query: "x"}
		if c, err := decodeSearchToken(token, filter, domain.SortRelevance); err == nil && c != nil {
			again, err := decodeSearchToken(encodeSearchToken(*c, filter, domain.SortRelevance), filter, domain.SortRelevance)
			if err != nil || *again != *c {
				t.Errorf("search cursor %+v did not round-trip: %+v, %v", c, again, err)
			}
		}
	})
}
