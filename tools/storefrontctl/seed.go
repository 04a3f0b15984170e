package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

// seedSummary is what seed reports; --json prints it as is.
type seedSummary struct {
	Products   int    `json:"products"`
	Categories int    `json:"categories"`
	Created    int    `json:"created"`
	Existing   int    `json:"existing"`
	Skipped    bool   `json:"skipped,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// seed creates the demo catalogue. SKUs are deterministic and a duplicate
// (ALREADY_EXISTS) counts as done, so running it again changes nothing.
func (c *cli) seed(ctx context.Context, args []string) error {
	fs := c.flagSet("seed", "seed [--products N] [--concurrency N] [--skip-unimplemented]")
	n := fs.Int("products", 1000, "number of demo products")
	concurrency := fs.Int("concurrency", 4, "parallel CreateProduct calls")
	skip := fs.Bool("skip-unimplemented", false,
		"exit 0 with a note when the catalogue does not implement CreateProduct yet")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("seed: unexpected argument %q", rest[0])
	}
	if *n < 1 || *n > 100000 {
		return usagef("seed: --products must be between 1 and 100000")
	}
	if *concurrency < 1 || *concurrency > 64 {
		return usagef("seed: --concurrency must be between 1 and 64")
	}
	reqs := demoProducts(*n)
	sum := seedSummary{Products: len(reqs), Categories: min(len(reqs), len(demoCategories()))}

	client, closeConn, err := c.dial()
	if err != nil {
		return err
	}
	defer closeConn()

	// The first product goes alone, so a server without CreateProduct or a
	// missing token fails once rather than a thousand times.
	created, err := c.createDemo(ctx, client, reqs[0])
	if status.Code(err) == codes.Unimplemented && *skip {
		sum.Skipped = true
		sum.Reason = fmt.Sprintf("the catalogue at %s does not implement CreateProduct yet (UNIMPLEMENTED)", c.opts.addr)
		return c.printSeed(sum)
	}
	if err != nil {
		return fmt.Errorf("seed %s: %w", reqs[0].GetSku(), err)
	}
	sum.count(created)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan *cataloguev1.CreateProductRequest)
	for range *concurrency {
		wg.Go(func() {
			for req := range jobs {
				created, err := c.createDemo(ctx, client, req)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("seed %s: %w", req.GetSku(), err)
					cancel()
				}
				if err == nil {
					sum.count(created)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, req := range reqs[1:] {
		select {
		case jobs <- req:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return c.printSeed(sum)
}

func (s *seedSummary) count(created bool) {
	if created {
		s.Created++
	} else {
		s.Existing++
	}
}

// createDemo creates one product and reports whether it was new.
func (c *cli) createDemo(ctx context.Context, client cataloguev1.CatalogueServiceClient, req *cataloguev1.CreateProductRequest) (bool, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	_, err := client.CreateProduct(ctx, req)
	switch status.Code(err) {
	case codes.OK:
		return true, nil
	case codes.AlreadyExists:
		return false, nil
	default:
		return false, err
	}
}

func (c *cli) printSeed(sum seedSummary) error {
	p := &printer{w: c.stdout}
	switch {
	case c.opts.json:
		data, err := json.Marshal(sum)
		if err != nil {
			return fmt.Errorf("encode seed summary: %w", err)
		}
		p.printf("%s\n", data)
	case sum.Skipped:
		p.printf("seed: skipped: %s\n", sum.Reason)
	default:
		p.printf("seed: %d demo products in %d categories: %d created, %d already existed\n",
			sum.Products, sum.Categories, sum.Created, sum.Existing)
	}
	return p.err
}

// demoCategory is one category of the demo catalogue and the kinds of
// product it holds.
type demoCategory struct {
	id    string
	nouns []string
}

func demoCategories() []demoCategory {
	return []demoCategory{
		{"electronics", []string{"Headphones", "Speaker", "Charger", "Keyboard", "Mouse", "Monitor", "Webcam", "Power Bank"}},
		{"books", []string{"Cookbook", "Novel", "Atlas", "Field Guide", "Notebook", "Biography", "Poetry Collection", "Travel Guide"}},
		{"home-kitchen", []string{"Mug", "Teapot", "Frying Pan", "Knife Set", "Cutting Board", "Blender", "Toaster", "Kettle"}},
		{"garden", []string{"Watering Can", "Trowel", "Planter", "Hose", "Pruning Shears", "Bird Feeder", "Solar Lamp", "Seed Kit"}},
		{"toys", []string{"Puzzle", "Building Blocks", "Kite", "Board Game", "Plush Bear", "Yo-Yo", "Train Set", "Card Game"}},
		{"sports", []string{"Yoga Mat", "Water Bottle", "Tennis Racket", "Football", "Jump Rope", "Dumbbell", "Bike Light", "Backpack"}},
		{"beauty", []string{"Hand Cream", "Shampoo", "Soap Bar", "Lip Balm", "Face Mask", "Hair Brush", "Perfume", "Sunscreen"}},
		{"grocery", []string{"Coffee Beans", "Green Tea", "Olive Oil", "Honey", "Dark Chocolate", "Pasta", "Granola", "Hot Sauce"}},
		{"fashion", []string{"Scarf", "Beanie", "Sneakers", "Raincoat", "Wallet", "Sunglasses", "Belt", "Socks"}},
		{"automotive", []string{"Car Charger", "Phone Mount", "Floor Mats", "Tyre Gauge", "Dash Cam", "Seat Cushion", "Ice Scraper", "Jump Starter"}},
	}
}

// demoProducts returns n deterministic products spread evenly over the
// demo categories. The same n always gives the same SKUs, names and stock.
func demoProducts(n int) []*cataloguev1.CreateProductRequest {
	cats := demoCategories()
	adjectives := []string{"Classic", "Compact", "Deluxe", "Eco", "Essential", "Premium", "Rugged", "Smart", "Travel", "Vintage"}
	colours := []string{"Black", "White", "Blue", "Red", "Green", "Grey", "Yellow"}
	out := make([]*cataloguev1.CreateProductRequest, 0, n)
	for i := range n {
		cat := cats[i%len(cats)]
		k := i / len(cats)
		noun := cat.nouns[k%len(cat.nouns)]
		adjective := adjectives[(k/len(cat.nouns))%len(adjectives)]
		colour := colours[(i*3)%len(colours)]
		out = append(out, &cataloguev1.CreateProductRequest{
			Sku:  fmt.Sprintf("DEMO-%05d", i+1),
			Name: fmt.Sprintf("%s %s %s", adjective, colour, noun),
			Description: fmt.Sprintf("A %s %s %s from the %s range, built to last. Demo product number %d.",
				strings.ToLower(adjective), strings.ToLower(colour), strings.ToLower(noun), cat.id, i+1),
			CategoryId: cat.id,
			Price:      &cataloguev1.Money{AmountMinor: int64((i*37)%250+1)*100 - 1, CurrencyCode: "EUR"},
			StockQty:   int64((i*13)%200 + 5),
		})
	}
	return out
}
