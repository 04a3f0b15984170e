package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

// shopProduct is a product of the search fixtures.
type shopProduct struct {
	name, description, category string
	price                       int64
}

func (e *env) createProducts(in *instance, ps []shopProduct) map[string]*cataloguev1.Product {
	e.t.Helper()
	out := map[string]*cataloguev1.Product{}
	for _, p := range ps {
		req := product(p.name, 1)
		req.Description, req.CategoryId, req.Price.AmountMinor = p.description, p.category, p.price
		out[p.name] = e.createProduct(in, req)
	}
	return out
}

func search(t *testing.T, in *instance, req *cataloguev1.SearchProductsRequest) *cataloguev1.SearchProductsResponse {
	t.Helper()
	resp, err := in.client.SearchProducts(t.Context(), req)
	if err != nil {
		t.Fatalf("search %q: %v", req.GetQuery(), err)
	}
	return resp
}

func TestSearchAsYouTypeAndTypos(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	e.createProducts(in, []shopProduct{
		{"Premium Coffee Beans", "Roasted arabica.", "grocery", 1299},
		{"Coffee Grinder", "Burr grinder for beans.", "home-kitchen", 4500},
		{"Wireless Headphones", "Noise cancelling.", "electronics", 9900},
		{"Desk Lamp", "", "lighting", 2500},
		{"Lampshade", "", "lighting", 1500},
		{"Clamps", "", "tools", 800},
		{"Lamp Clip", "", "lighting", 900},
		{"Running Shoes", "", "sports", 7000},
		{"Travel Mug", "", "home-kitchen", 1200},
		{"Mechanical Keyboard", "", "electronics", 8900},
		{"Кофе в зёрнах", "Свежая обжарка.", "grocery", 900},
		{"抹茶 パウダー", "", "grocery", 1100}, //nolint:gosmopolitan // non-Latin text is the case
	})

	tests := []struct {
		query string
		want  []string // in rank order; nil when only the set matters
		set   []string
	}{
		// As the shopper types: the last word is a prefix too.
		{query: "coff", set: []string{"Coffee Grinder", "Premium Coffee Beans"}},
		{query: "coffee gri", want: []string{"Coffee Grinder"}},
		{query: "headph", want: []string{"Wireless Headphones"}},
		// A stem-changing word is completed from the vocabulary: "runni" is
		// no prefix of the stem "run", but "running" is a completion.
		{query: "runni", want: []string{"Running Shoes"}},
		// A word followed by a space is finished: no prefix match.
		{query: "coff ", want: []string{}},
		// One typo from 4 letters, two from 8.
		{query: "cofee", set: []string{"Coffee Grinder", "Premium Coffee Beans"}},
		{query: "headfones", want: []string{"Wireless Headphones"}},
		{query: "keybaord", want: []string{"Mechanical Keyboard"}}, //nolint:misspell // the typo is the case
		{query: "mecanical keybord", want: []string{"Mechanical Keyboard"}},
		{query: "kettel", want: []string{}},
		// Too short for a typo, and two typos in a 6-letter word are too many.
		{query: "mgu", want: []string{}},
		{query: "grnder", want: []string{"Coffee Grinder"}},
		{query: "grndr", want: []string{}},
		// A known word is not respelled: "lamp" never finds "Clamps".
		{query: "lamp ", want: []string{"Desk Lamp", "Lamp Clip"}},
		// Exact over prefix over fuzzy. "lamps" is no word of the
		// catalogue, but its stem is; "Clamps" is one typo away.
		{query: "lamp", want: []string{"Desk Lamp", "Lamp Clip", "Lampshade"}},
		{query: "lamps ", want: []string{"Desk Lamp", "Lamp Clip", "Clamps"}},
		{query: "lamps cl", want: []string{"Lamp Clip", "Clamps"}},
		// The word being typed is respelled only when nothing starts with it.
		{query: "lamps", want: []string{"Desk Lamp", "Lamp Clip", "Lampshade"}},
		{query: "cofe", set: []string{"Coffee Grinder", "Premium Coffee Beans"}},
		// Non-Latin text: exact, prefix and one typo.
		{query: "кофе", want: []string{"Кофе в зёрнах"}},
		{query: "коф", want: []string{"Кофе в зёрнах"}},
		{query: "кофн ", want: []string{"Кофе в зёрнах"}},
		{query: "抹茶", want: []string{"抹茶 パウダー"}}, //nolint:gosmopolitan // non-Latin text is the case
		// An exclusion still works.
		{query: "coffee -grinder", want: []string{"Premium Coffee Beans"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp := search(t, in, &cataloguev1.SearchProductsRequest{Query: tt.query})
			got := names(resp.GetProducts())
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
			} else {
				slices.Sort(got)
				if diff := cmp.Diff(tt.set, got); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
			}
			if int(resp.GetTotalSize()) != len(got) {
				t.Errorf("total %d for %d results", resp.GetTotalSize(), len(got))
			}
		})
	}

	t.Run("no searchable words", func(t *testing.T) {
		for _, q := range []string{"the", "the of and", "!!! ... ???", "-lamp", `"" () :*`, "\u0301"} {
			resp := search(t, in, &cataloguev1.SearchProductsRequest{Query: q, IncludeFacets: true})
			if resp.GetTotalSize() != 0 || len(resp.GetProducts()) != 0 {
				t.Errorf("%q: %d results, want none", q, resp.GetTotalSize())
			}
			if len(resp.GetFacets().GetPriceBands()) != 6 {
				t.Errorf("%q: facets %v, want six empty price bands", q, resp.GetFacets())
			}
		}
	})

	t.Run("huge queries", func(t *testing.T) {
		// 256 characters of many distinct words is searched (its first
		// words only) and answers quickly with a clear result.
		var b strings.Builder
		for i := 0; b.Len() < 256; i++ {
			b.WriteString(string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + "xq ")
		}
		resp := search(t, in, &cataloguev1.SearchProductsRequest{Query: b.String()[:256]})
		if resp.GetTotalSize() != 0 {
			t.Errorf("nonsense words found %d products", resp.GetTotalSize())
		}
		coffee := strings.Repeat("coffee ", 36) // 252 characters, one distinct word
		if resp := search(t, in, &cataloguev1.SearchProductsRequest{Query: coffee}); resp.GetTotalSize() != 2 {
			t.Errorf("a repeated word found %d products, want 2", resp.GetTotalSize())
		}
		_, err := in.client.SearchProducts(t.Context(), &cataloguev1.SearchProductsRequest{Query: strings.Repeat("x", 257)})
		if code(err) != codes.InvalidArgument {
			t.Errorf("257 characters: code = %v, want InvalidArgument", code(err))
		}
	})
}

func TestSearchFacetsAndSorts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	var fixtures []shopProduct
	// 12 mugs over three categories and four prices, with ties in price.
	for i := range 12 {
		fixtures = append(fixtures, shopProduct{
			name:     "Mug " + string(rune('A'+i)),
			category: []string{"home-kitchen", "gifts", "office"}[i%3],
			price:    []int64{500, 1500, 1500, 30000}[i%4],
		})
	}
	fixtures = append(fixtures, shopProduct{"Teapot", "", "home-kitchen", 2000})
	e.createProducts(in, fixtures)

	t.Run("facets", func(t *testing.T) {
		resp := search(t, in, &cataloguev1.SearchProductsRequest{Query: "mug", IncludeFacets: true, PageSize: 2})
		if resp.GetTotalSize() != 12 || len(resp.GetProducts()) != 2 {
			t.Fatalf("total %d, page %d; want 12 and 2", resp.GetTotalSize(), len(resp.GetProducts()))
		}
		type cat struct {
			ID    string
			Count int32
		}
		var cats []cat
		for _, c := range resp.GetFacets().GetCategories() {
			cats = append(cats, cat{c.GetCategoryId(), c.GetCount()})
		}
		// Four each; ties in count are ordered by id.
		if diff := cmp.Diff([]cat{{"gifts", 4}, {"home-kitchen", 4}, {"office", 4}}, cats); diff != "" {
			t.Errorf("categories (-want +got):\n%s", diff)
		}
		// Prices 500 ×3, 1500 ×6, 30000 ×3 in the default bands.
		var bands []int32
		for _, b := range resp.GetFacets().GetPriceBands() {
			bands = append(bands, b.GetCount())
		}
		if diff := cmp.Diff([]int32{3, 6, 0, 0, 0, 3}, bands); diff != "" {
			t.Errorf("default price bands (-want +got):\n%s", diff)
		}
		last := resp.GetFacets().GetPriceBands()[5]
		if last.GetMinMinor() != 25000 || last.MaxMinor != nil {
			t.Errorf("highest band = %v, want [25000, no bound)", last)
		}

		// Custom edges and a filter: facets count the filtered match set.
		resp = search(t, in, &cataloguev1.SearchProductsRequest{
			CategoryId: "home-kitchen", IncludeFacets: true, PriceBandEdgesMinor: []int64{1000, 1500},
		})
		bands = bands[:0]
		for _, b := range resp.GetFacets().GetPriceBands() {
			bands = append(bands, b.GetCount())
		}
		// home-kitchen: mugs 0, 3, 6, 9 (500, 30000, 1500, 1500) and the teapot (2000).
		if diff := cmp.Diff([]int32{1, 0, 4}, bands); diff != "" {
			t.Errorf("custom bands (-want +got):\n%s", diff)
		}
		if resp.GetTotalSize() != 5 {
			t.Errorf("total %d, want 5", resp.GetTotalSize())
		}
		if resp := search(t, in, &cataloguev1.SearchProductsRequest{Query: "mug"}); resp.GetFacets() != nil {
			t.Errorf("facets without asking: %v", resp.GetFacets())
		}
		_, err := in.client.SearchProducts(t.Context(), &cataloguev1.SearchProductsRequest{IncludeFacets: true, PriceBandEdgesMinor: []int64{1000, 1000}})
		if code(err) != codes.InvalidArgument || !slices.Contains(fieldViolations(err), "price_band_edges_minor") {
			t.Errorf("unordered edges: %v, want InvalidArgument on price_band_edges_minor", err)
		}
	})

	sorts := []struct {
		sort cataloguev1.SearchSort
		less func(a, b *cataloguev1.Product) bool
	}{
		{cataloguev1.SearchSort_SEARCH_SORT_PRICE_ASC, func(a, b *cataloguev1.Product) bool {
			return a.GetPrice().GetAmountMinor() <= b.GetPrice().GetAmountMinor()
		}},
		{cataloguev1.SearchSort_SEARCH_SORT_PRICE_DESC, func(a, b *cataloguev1.Product) bool {
			return a.GetPrice().GetAmountMinor() >= b.GetPrice().GetAmountMinor()
		}},
		{cataloguev1.SearchSort_SEARCH_SORT_NEWEST, func(a, b *cataloguev1.Product) bool {
			return !a.GetCreatedAt().AsTime().Before(b.GetCreatedAt().AsTime())
		}},
		{cataloguev1.SearchSort_SEARCH_SORT_RELEVANCE, func(_, _ *cataloguev1.Product) bool { return true }},
	}
	for _, query := range []string{"mug", ""} {
		for _, s := range sorts {
			t.Run("sort "+s.sort.String()+" query "+query, func(t *testing.T) {
				var paged []*cataloguev1.Product
				token := ""
				for page := 0; ; page++ {
					if page > 10 {
						t.Fatal("more than 10 pages")
					}
					resp := search(t, in, &cataloguev1.SearchProductsRequest{Query: query, Sort: s.sort, PageSize: 5, PageToken: token})
					paged = append(paged, resp.GetProducts()...)
					if token = resp.GetNextPageToken(); token == "" {
						break
					}
				}
				want := 12
				if query == "" {
					want = 13
				}
				ids := map[string]bool{}
				for i, p := range paged {
					if ids[p.GetId()] {
						t.Errorf("%s twice", p.GetName())
					}
					ids[p.GetId()] = true
					if i > 0 && !s.less(paged[i-1], p) {
						t.Errorf("%s before %s is out of order", paged[i-1].GetName(), p.GetName())
					}
				}
				if len(ids) != want {
					t.Errorf("pages hold %d products, want %d", len(ids), want)
				}
				single := search(t, in, &cataloguev1.SearchProductsRequest{Query: query, Sort: s.sort, PageSize: 100})
				if diff := cmp.Diff(names(single.GetProducts()), names(paged)); diff != "" {
					t.Errorf("paged order differs from one page (-single +paged):\n%s", diff)
				}
			})
		}
	}

	t.Run("a token of another sort is refused", func(t *testing.T) {
		resp := search(t, in, &cataloguev1.SearchProductsRequest{Query: "mug", PageSize: 2})
		_, err := in.client.SearchProducts(t.Context(), &cataloguev1.SearchProductsRequest{
			Query: "mug", PageSize: 2, PageToken: resp.GetNextPageToken(), Sort: cataloguev1.SearchSort_SEARCH_SORT_PRICE_ASC,
		})
		if code(err) != codes.InvalidArgument {
			t.Errorf("code = %v, want InvalidArgument", code(err))
		}
		_, err = in.client.SearchProducts(t.Context(), &cataloguev1.SearchProductsRequest{Sort: 99})
		if code(err) != codes.InvalidArgument {
			t.Errorf("undefined sort: code = %v, want InvalidArgument", code(err))
		}
	})
}

func TestSuggestProducts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	ps := e.createProducts(in, []shopProduct{
		{"Coffee Beans", "", "grocery", 1299},
		{"Coffee Beans", "The same name again.", "grocery", 1399},
		{"Coffee Grinder", "", "home-kitchen", 4500},
		{"Toffee", "Not coffee, but mentions it.", "grocery", 300},
		{"Headphones", "", "electronics", 9900},
	})
	for i := range 12 {
		e.createProducts(in, []shopProduct{{"Cable " + string(rune('A'+i)), "", "electronics", 500}})
	}
	suggest := func(req *cataloguev1.SuggestProductsRequest) []string {
		t.Helper()
		resp, err := in.client.SuggestProducts(t.Context(), req)
		if err != nil {
			t.Fatalf("suggest %q: %v", req.GetPrefix(), err)
		}
		var out []string
		for _, s := range resp.GetSuggestions() {
			out = append(out, s.GetName())
		}
		return out
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		// Names only ("Toffee" mentions coffee in its description), each
		// name once.
		{"coff", []string{"Coffee Beans", "Coffee Grinder"}},
		{"coffee g", []string{"Coffee Grinder"}},
		{"cofee", []string{"Coffee Beans", "Coffee Grinder"}},
		{"hedpho", []string{"Headphones"}},
		{"", nil},
		{"the", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, suggest(&cataloguev1.SuggestProductsRequest{Prefix: tt.prefix})); diff != "" {
			t.Errorf("suggest %q (-want +got):\n%s", tt.prefix, diff)
		}
	}
	if got := suggest(&cataloguev1.SuggestProductsRequest{Prefix: "cab"}); len(got) != 10 {
		t.Errorf("suggest cab: %d names, want the 10 at most", len(got))
	}
	if got := suggest(&cataloguev1.SuggestProductsRequest{Prefix: "cab", Limit: 3}); len(got) != 3 {
		t.Errorf("suggest cab with limit 3: %d names", len(got))
	}
	if got := suggest(&cataloguev1.SuggestProductsRequest{Prefix: "coff", CategoryId: "home-kitchen"}); !slices.Equal(got, []string{"Coffee Grinder"}) {
		t.Errorf("suggest coff in home-kitchen = %v", got)
	}
	if _, err := in.client.SuggestProducts(t.Context(), &cataloguev1.SuggestProductsRequest{Prefix: "x", Limit: 11}); code(err) != codes.InvalidArgument {
		t.Errorf("limit 11: code = %v, want InvalidArgument", code(err))
	}

	t.Run("connect get is cacheable", func(t *testing.T) {
		msg, _ := json.Marshal(map[string]string{"prefix": "coff"})
		u := "http://" + in.srv.HTTPAddr() + "/catalogue.v1.CatalogueService/SuggestProducts?connect=v1&encoding=json&message=" + url.QueryEscape(string(msg))
		req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), http.MethodGet, u, nil)
		if err != nil {
			t.Fatalf("new request: %v", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		defer func() { _ = resp.Body.Close() }()
		data, _ := io.ReadAll(resp.Body)
		var got struct {
			Suggestions []struct {
				ProductID string `json:"productId"`
				Name      string `json:"name"`
			} `json:"suggestions"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &got) != nil || len(got.Suggestions) != 2 {
			t.Fatalf("GET SuggestProducts = %s %s", resp.Status, data)
		}
		if got.Suggestions[1].ProductID != ps["Coffee Grinder"].GetId() {
			t.Errorf("second suggestion %+v, want the grinder's id", got.Suggestions[1])
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || !strings.Contains(cc, "public") {
			t.Errorf("Cache-Control = %q, want a public max-age", cc)
		}
	})
}

func TestSearchVocabularyFollowsWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	ctx := t.Context()

	// Concurrent products bring the same new words in different orders;
	// the vocabulary trigger must neither deadlock nor lose one.
	words := []string{"zephyrine", "quillory", "marbleton", "wexhaven", "dornsby", "falconet"}
	errs := make(chan error, 12)
	for i := range 12 {
		go func() {
			w := slices.Clone(words)
			for j := range w {
				k := (j + i) % len(w)
				w[j], w[k] = w[k], w[j]
			}
			req := product(strings.Join(w[:4], " "), 1)
			req.Description = strings.Join(w[2:], " ")
			_, err := in.client.CreateProduct(ctx, req, e.admin())
			errs <- err
		}()
	}
	for range 12 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent create: %v", err)
		}
	}
	var known int
	if err := e.pool().QueryRow(ctx, `SELECT count(*) FROM search_words WHERE word = ANY($1)`, words).Scan(&known); err != nil {
		t.Fatal(err)
	}
	if known != len(words) {
		t.Errorf("vocabulary holds %d of the %d new words", known, len(words))
	}

	// A renamed product is found by a typo of its new name.
	p := e.createProduct(in, product("Plain Box", 1))
	p.Name = "Ornamental Birdhouse"
	if _, err := in.client.UpdateProduct(ctx, &cataloguev1.UpdateProductRequest{
		Product: p, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
	}, e.admin()); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if got := names(search(t, in, &cataloguev1.SearchProductsRequest{Query: "brdhouse "}).GetProducts()); !slices.Equal(got, []string{"Ornamental Birdhouse"}) {
		t.Errorf("a typo of the new name found %v", got)
	}
	if got := search(t, in, &cataloguev1.SearchProductsRequest{Query: "plain box "}).GetTotalSize(); got != 0 {
		t.Errorf("the old name still finds %d products", got)
	}
}
