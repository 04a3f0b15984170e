package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
)

func (c *cli) stock(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("stock: want reserve, release or watch")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "reserve":
		return c.stockReserve(ctx, rest)
	case "release":
		return c.stockRelease(ctx, rest)
	case "watch":
		return c.stockWatch(ctx, rest)
	default:
		return usagef("stock: unknown command %q (want reserve, release or watch)", sub)
	}
}

func (c *cli) stockReserve(ctx context.Context, args []string) error {
	fs := c.flagSet("stock reserve", "stock reserve [--id RESERVATION_ID] PRODUCT_ID=QTY...")
	id := fs.String("id", "", "reservation `id` (a UUID; default: a new UUIDv7). Reusing one is idempotent")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("stock reserve: want at least one PRODUCT_ID=QTY")
	}
	items := make([]*cataloguev1.ReservationItem, 0, len(rest))
	for _, arg := range rest {
		item, err := parseItem("stock reserve", arg)
		if err != nil {
			return err
		}
		items = append(items, item)
	}
	if *id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("new reservation id: %w", err)
		}
		*id = u.String()
	}
	req := &cataloguev1.ReserveStockRequest{ReservationId: *id, Items: items}
	return unary(ctx, c, func(ctx context.Context, cl cataloguev1.CatalogueServiceClient) (*cataloguev1.ReserveStockResponse, error) {
		return cl.ReserveStock(ctx, req)
	}, func(p *printer, r *cataloguev1.ReserveStockResponse) { p.reservation(r.GetReservation()) })
}

// deadlineSlack is how close to --timeout's deadline a DEADLINE_EXCEEDED
// from the server counts as the end of --timeout.
const deadlineSlack = 500 * time.Millisecond

// timeoutEnded reports whether err is the server ending a stream at the
// deadline of ctx. The server may notice the deadline, and reset the
// stream, a moment before this process's own timer fires; a
// DEADLINE_EXCEEDED well before the deadline is a real failure.
func timeoutEnded(ctx context.Context, err error) bool {
	deadline, ok := ctx.Deadline()
	return ok && status.Code(err) == codes.DeadlineExceeded && time.Until(deadline) < deadlineSlack
}

// parseItem reads PRODUCT_ID=QTY for command cmd.
func parseItem(cmd, arg string) (*cataloguev1.ReservationItem, error) {
	id, qty, ok := strings.Cut(arg, "=")
	if !ok || id == "" {
		return nil, usagef("%s: %q: want PRODUCT_ID=QTY", cmd, arg)
	}
	n, err := strconv.ParseInt(qty, 10, 32)
	if err != nil || n <= 0 {
		return nil, usagef("%s: %q: quantity must be a positive integer", cmd, arg)
	}
	return &cataloguev1.ReservationItem{ProductId: id, Quantity: int32(n)}, nil
}

func (c *cli) stockRelease(ctx context.Context, args []string) error {
	fs := c.flagSet("stock release", "stock release RESERVATION_ID")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("stock release: want exactly one RESERVATION_ID")
	}
	req := &cataloguev1.ReleaseStockRequest{ReservationId: rest[0]}
	return unary(ctx, c, func(ctx context.Context, cl cataloguev1.CatalogueServiceClient) (*cataloguev1.ReleaseStockResponse, error) {
		return cl.ReleaseStock(ctx, req)
	}, func(p *printer, r *cataloguev1.ReleaseStockResponse) { p.reservation(r.GetReservation()) })
}

// stockWatch prints the current stock of each product, then every change,
// until the server ends the stream, --timeout passes or the user interrupts;
// each of those exits 0.
func (c *cli) stockWatch(ctx context.Context, args []string) error {
	fs := c.flagSet("stock watch", "stock watch PRODUCT_ID...")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("stock watch: want at least one PRODUCT_ID")
	}
	client, closeConn, err := c.dial()
	if err != nil {
		return err
	}
	defer closeConn()
	streamCtx, cancel := c.streamContext(ctx)
	defer cancel()
	stream, err := client.WatchAvailability(streamCtx, &cataloguev1.WatchAvailabilityRequest{ProductIds: rest})
	if err != nil {
		return err
	}
	p := &printer{w: c.stdout}
	for p.err == nil {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// Ctrl-C or the end of --timeout ends a watch; neither is a failure.
			if ctx.Err() != nil || errors.Is(streamCtx.Err(), context.DeadlineExceeded) || timeoutEnded(streamCtx, err) {
				break
			}
			return err
		}
		if c.opts.json {
			p.message(resp, true)
			continue
		}
		p.printf("%s  %s  available %d\n", formatTime(resp.GetObservedAt()), resp.GetProductId(), resp.GetAvailable())
	}
	return p.err
}
