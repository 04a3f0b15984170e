package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

func (c *cli) products(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("products: want list, get, search, suggest or create")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "list":
		return c.productsList(ctx, rest)
	case "get":
		return c.productsGet(ctx, rest)
	case "search":
		return c.productsSearch(ctx, rest)
	case "suggest":
		return c.productsSuggest(ctx, rest)
	case "create":
		return c.productsCreate(ctx, rest)
	default:
		return usagef("products: unknown command %q (want list, get, search, suggest or create)", sub)
	}
}

func (c *cli) productsList(ctx context.Context, args []string) error {
	fs := c.flagSet("products list", "products list [--category ID] [--page-size N] [--page-token T]")
	category := fs.String("category", "", "only products of this category `id`")
	pageSize := fs.Int("page-size", 0, "products per streamed message (0: server default)")
	pageToken := fs.String("page-token", "", "resume after this `token`")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("products list: unexpected argument %q", rest[0])
	}
	size, err := int32Flag("page-size", *pageSize)
	if err != nil {
		return err
	}
	client, closeConn, err := c.dial()
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := c.streamContext(ctx)
	defer cancel()
	stream, err := client.ListProducts(ctx, &cataloguev1.ListProductsRequest{
		PageSize: size, PageToken: *pageToken, CategoryId: *category,
	})
	if err != nil {
		return err
	}
	p := &printer{w: c.stdout}
	if !c.opts.json {
		p.productHeader()
	}
	// The server ends the stream; each message is one page.
	for p.err == nil {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if c.opts.json {
			p.message(resp, true)
			continue
		}
		for _, pr := range resp.GetProducts() {
			p.productRow(pr)
		}
	}
	return p.err
}

func (c *cli) productsGet(ctx context.Context, args []string) error {
	fs := c.flagSet("products get", "products get PRODUCT_ID")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("products get: want exactly one PRODUCT_ID")
	}
	req := &cataloguev1.GetProductRequest{ProductId: rest[0]}
	return unary(ctx, c, func(ctx context.Context, cl cataloguev1.CatalogueServiceClient) (*cataloguev1.GetProductResponse, error) {
		return cl.GetProduct(ctx, req)
	}, func(p *printer, r *cataloguev1.GetProductResponse) { p.productDetail(r.GetProduct()) })
}

func (c *cli) productsSearch(ctx context.Context, args []string) error {
	fs := c.flagSet("products search",
		"products search [--category ID] [--min-price P] [--max-price P] [--sort ORDER] [--facets] [--price-bands P,P...] [--page-size N] [--page-token T] [QUERY...]")
	category := fs.String("category", "", "only products of this category `id`")
	minPrice := fs.String("min-price", "", "lowest `price`, like 5 or 9.99")
	maxPrice := fs.String("max-price", "", "highest `price`, like 50 or 99.99")
	sortFlag := fs.String("sort", "relevance", "result `order`: relevance, price-asc, price-desc or newest")
	withFacets := fs.Bool("facets", false, "also count all matches per category and price band")
	bands := fs.String("price-bands", "", "price band `edges` for --facets, like 10,25,50 (default 10,25,50,100,250)")
	pageSize := fs.Int("page-size", 0, "results per page (0: server default)")
	pageToken := fs.String("page-token", "", "the next page's `token` from a previous search")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	size, err := int32Flag("page-size", *pageSize)
	if err != nil {
		return err
	}
	order, ok := searchSorts[*sortFlag]
	if !ok {
		return usagef("--sort %q: want relevance, price-asc, price-desc or newest", *sortFlag)
	}
	req := &cataloguev1.SearchProductsRequest{
		Query: strings.Join(rest, " "), CategoryId: *category, PageSize: size, PageToken: *pageToken,
		Sort: order, IncludeFacets: *withFacets,
	}
	if req.MinPriceMinor, err = optionalMoney("min-price", *minPrice); err != nil {
		return err
	}
	if req.MaxPriceMinor, err = optionalMoney("max-price", *maxPrice); err != nil {
		return err
	}
	if *bands != "" {
		for edge := range strings.SplitSeq(*bands, ",") {
			amount, err := parseMoney(strings.TrimSpace(edge))
			if err != nil {
				return usagef("--price-bands: %v", err)
			}
			req.PriceBandEdgesMinor = append(req.PriceBandEdgesMinor, amount)
		}
	}
	client, closeConn, err := c.dial()
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := client.SearchProducts(ctx, req)
	if err != nil {
		return err
	}
	p := &printer{w: c.stdout}
	if c.opts.json {
		p.message(resp, false)
		return p.err
	}
	p.productHeader()
	for _, pr := range resp.GetProducts() {
		p.productRow(pr)
	}
	p.printf("%d of %d matches", len(resp.GetProducts()), resp.GetTotalSize())
	if resp.GetNextPageToken() != "" {
		p.printf("; next page: --page-token %s", resp.GetNextPageToken())
	}
	p.printf("\n")
	if f := resp.GetFacets(); f != nil {
		p.facets(f)
	}
	return p.err
}

// searchSorts maps --sort values to the contract's orders.
var searchSorts = map[string]cataloguev1.SearchSort{ //nolint:gochecknoglobals // a constant table
	"relevance":  cataloguev1.SearchSort_SEARCH_SORT_RELEVANCE,
	"price-asc":  cataloguev1.SearchSort_SEARCH_SORT_PRICE_ASC,
	"price-desc": cataloguev1.SearchSort_SEARCH_SORT_PRICE_DESC,
	"newest":     cataloguev1.SearchSort_SEARCH_SORT_NEWEST,
}

func (c *cli) productsSuggest(ctx context.Context, args []string) error {
	fs := c.flagSet("products suggest", "products suggest [--category ID] [--limit N] PREFIX...")
	category := fs.String("category", "", "only products of this category `id`")
	limit := fs.Int("limit", 0, "suggestions wanted, at most 10 (0: 10)")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	n, err := int32Flag("limit", *limit)
	if err != nil {
		return err
	}
	req := &cataloguev1.SuggestProductsRequest{Prefix: strings.Join(rest, " "), Limit: n, CategoryId: *category}
	return unary(ctx, c, func(ctx context.Context, cl cataloguev1.CatalogueServiceClient) (*cataloguev1.SuggestProductsResponse, error) {
		return cl.SuggestProducts(ctx, req)
	}, func(p *printer, r *cataloguev1.SuggestProductsResponse) {
		for _, s := range r.GetSuggestions() {
			p.printf("%s  %s\n", s.GetProductId(), s.GetName())
		}
	})
}

func (c *cli) productsCreate(ctx context.Context, args []string) error {
	fs := c.flagSet("products create",
		"products create --sku SKU --name NAME --category ID --price 19.99 [--currency EUR] [--stock N] [--description D] [--image URL]...")
	sku := fs.String("sku", "", "unique stock-keeping unit, like MUG-BLUE-01 (required)")
	name := fs.String("name", "", "product name (required)")
	description := fs.String("description", "", "product description")
	category := fs.String("category", "", "category `id`, like home-kitchen (required)")
	price := fs.String("price", "", "`price` with at most two decimals, like 19.99 (required)")
	currency := fs.String("currency", "EUR", "ISO-4217 currency `code`")
	stock := fs.Int64("stock", 0, "units in stock")
	var images stringList
	fs.Var(&images, "image", "image `URL` (repeatable)")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("products create: unexpected argument %q", rest[0])
	}
	for _, f := range []struct{ name, value string }{
		{"sku", *sku}, {"name", *name}, {"category", *category}, {"price", *price},
	} {
		if f.value == "" {
			return usagef("products create: --%s is required", f.name)
		}
	}
	amount, err := parseMoney(*price)
	if err != nil {
		return usagef("products create: --price: %v", err)
	}
	req := &cataloguev1.CreateProductRequest{
		Sku:         *sku,
		Name:        *name,
		Description: *description,
		CategoryId:  *category,
		Price:       &cataloguev1.Money{AmountMinor: amount, CurrencyCode: *currency},
		StockQty:    *stock,
		ImageUrls:   images,
	}
	return unary(ctx, c, func(ctx context.Context, cl cataloguev1.CatalogueServiceClient) (*cataloguev1.CreateProductResponse, error) {
		return cl.CreateProduct(ctx, req)
	}, func(p *printer, r *cataloguev1.CreateProductResponse) { p.productDetail(r.GetProduct()) })
}

// optionalMoney parses a price flag; empty means not set.
func optionalMoney(name, v string) (*int64, error) {
	if v == "" {
		return nil, nil
	}
	amount, err := parseMoney(v)
	if err != nil {
		return nil, usagef("--%s: %v", name, err)
	}
	return &amount, nil
}

func int32Flag(name string, v int) (int32, error) {
	if v < 0 || v > 1<<31-1 {
		return 0, usagef("--%s %d is out of range", name, v)
	}
	return int32(v), nil
}

// stringList is a repeatable string flag.
type stringList []string

var _ flag.Value = (*stringList)(nil)

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
