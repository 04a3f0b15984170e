package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

func names(ps []*cataloguev1.Product) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.GetName()
	}
	return out
}

func TestSearchProducts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	ctx := t.Context()
	for _, p := range []struct {
		name, description, category string
		price                       int64
	}{
		{"Brass lamp", "Warm light.", "lighting", 5000},
		{"Reading chair", "Comfortable chair with a built-in lamp.", "furniture", 20000},
		{"Lamp shade", "", "lighting", 1500},
		{"Sofa", "Big.", "furniture", 50000},
	} {
		req := product(p.name, 1)
		req.Description, req.CategoryId, req.Price.AmountMinor = p.description, p.category, p.price
		e.createProduct(in, req)
	}

	t.Run("name match outranks description match", func(t *testing.T) {
		resp, err := in.client.SearchProducts(ctx, &cataloguev1.SearchProductsRequest{Query: "lamp"})
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		got := names(resp.GetProducts())
		if len(got) != 3 || got[2] != "Reading chair" {
			t.Fatalf("results = %v, want the two name matches before Reading chair", got)
		}
		if resp.GetTotalSize() != 3 || resp.GetNextPageToken() != "" {
			t.Errorf("total %d, token %q; want 3 and none", resp.GetTotalSize(), resp.GetNextPageToken())
		}
	})

	tests := []struct {
		name      string
		req       *cataloguev1.SearchProductsRequest
		want      []string
		wantTotal int32
	}{
		{name: "category", req: &cataloguev1.SearchProductsRequest{Query: "lamp", CategoryId: "furniture"}, want: []string{"Reading chair"}, wantTotal: 1},
		{name: "max price", req: &cataloguev1.SearchProductsRequest{Query: "lamp", MaxPriceMinor: new(int64(2000))}, want: []string{"Lamp shade"}, wantTotal: 1},
		{
			name:      "price range without query orders by name",
			req:       &cataloguev1.SearchProductsRequest{MinPriceMinor: new(int64(3000)), MaxPriceMinor: new(int64(30000))},
			want:      []string{"Brass lamp", "Reading chair"},
			wantTotal: 2,
		},
		{name: "empty query lists all by name", req: &cataloguev1.SearchProductsRequest{}, want: []string{"Brass lamp", "Lamp shade", "Reading chair", "Sofa"}, wantTotal: 4},
		{name: "web search syntax", req: &cataloguev1.SearchProductsRequest{Query: `lamp -shade`}, want: []string{"Brass lamp", "Reading chair"}, wantTotal: 2},
		{name: "stemming", req: &cataloguev1.SearchProductsRequest{Query: "lamps"}, wantTotal: 3},
		{name: "stop words only", req: &cataloguev1.SearchProductsRequest{Query: "the"}, wantTotal: 0},
		{name: "no match", req: &cataloguev1.SearchProductsRequest{Query: "zeppelin"}, wantTotal: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := in.client.SearchProducts(ctx, tt.req)
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, names(resp.GetProducts())); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
			}
			if resp.GetTotalSize() != tt.wantTotal || len(resp.GetProducts()) != int(tt.wantTotal) {
				t.Errorf("total %d with %d results, want %d", resp.GetTotalSize(), len(resp.GetProducts()), tt.wantTotal)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		first, err := in.client.SearchProducts(ctx, &cataloguev1.SearchProductsRequest{Query: "lamp", PageSize: 1})
		if err != nil || first.GetNextPageToken() == "" {
			t.Fatalf("first page = %v, %v; want a next page token", first, err)
		}
		tests := []struct {
			name string
			req  *cataloguev1.SearchProductsRequest
		}{
			{name: "garbage token", req: &cataloguev1.SearchProductsRequest{Query: "lamp", PageToken: "garbage"}},
			{name: "token of another query", req: &cataloguev1.SearchProductsRequest{Query: "chair", PageToken: first.GetNextPageToken()}},
			{name: "min above max", req: &cataloguev1.SearchProductsRequest{MinPriceMinor: new(int64(10)), MaxPriceMinor: new(int64(5))}},
			{name: "page too large", req: &cataloguev1.SearchProductsRequest{PageSize: 101}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := in.client.SearchProducts(ctx, tt.req); code(err) != codes.InvalidArgument {
					t.Errorf("code = %v (%v), want InvalidArgument", code(err), err)
				}
			})
		}
	})
}

func TestSearchPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	in := e.start(nil)
	ctx := t.Context()
	const widgets = 30
	all := map[string]bool{}
	for i := range widgets {
		// Varying descriptions give varying ranks, with many ties.
		req := product(fmt.Sprintf("Widget %02d", i), 1)
		req.Description = strings.Repeat("widget ", i%4)
		all[e.createProduct(in, req).GetId()] = true
	}
	e.createProduct(in, product("Gadget", 1))

	tests := []struct {
		name     string
		query    string
		pageSize int32
		want     int
	}{
		{name: "ranked", query: "widget", pageSize: 7, want: widgets},
		{name: "by name", query: "", pageSize: 4, want: widgets + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			var order []string
			token := ""
			for page := 0; ; page++ {
				if page > 20 {
					t.Fatal("more than 20 pages")
				}
				resp, err := in.client.SearchProducts(ctx, &cataloguev1.SearchProductsRequest{Query: tt.query, PageSize: tt.pageSize, PageToken: token})
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				if int(resp.GetTotalSize()) != tt.want {
					t.Errorf("page %d: total %d, want %d", page, resp.GetTotalSize(), tt.want)
				}
				for _, p := range resp.GetProducts() {
					if seen[p.GetId()] {
						t.Errorf("product %s (%s) on two pages", p.GetId(), p.GetName())
					}
					seen[p.GetId()] = true
					order = append(order, p.GetId())
				}
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
				if len(resp.GetProducts()) != int(tt.pageSize) {
					t.Errorf("page %d has %d products before the last page", page, len(resp.GetProducts()))
				}
			}
			if len(seen) != tt.want {
				t.Errorf("pages hold %d distinct products, want %d", len(seen), tt.want)
			}
			if tt.query != "" {
				for id := range all {
					if !seen[id] {
						t.Errorf("widget %s missing from the pages", id)
					}
				}
			}
			// The order is total: one big page agrees with the small ones.
			resp, err := in.client.SearchProducts(ctx, &cataloguev1.SearchProductsRequest{Query: tt.query, PageSize: 100})
			if err != nil {
				t.Fatalf("single page: %v", err)
			}
			var single []string
			for _, p := range resp.GetProducts() {
				single = append(single, p.GetId())
			}
			if diff := cmp.Diff(single, order); diff != "" {
				t.Errorf("paged order differs from one page (-single +paged):\n%s", diff)
			}
		})
	}
}
