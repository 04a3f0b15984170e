package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
)

func (c *cli) orders(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("orders: want place, get, list or cancel")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "place":
		return c.ordersPlace(ctx, rest)
	case "get":
		return c.ordersGet(ctx, rest)
	case "list":
		return c.ordersList(ctx, rest)
	case "cancel":
		return c.ordersCancel(ctx, rest)
	default:
		return usagef("orders: unknown command %q (want place, get, list or cancel)", sub)
	}
}

func (c *cli) ordersPlace(ctx context.Context, args []string) error {
	fs := c.flagSet("orders place", "orders place [--key KEY] [--customer ID] PRODUCT_ID=QTY...")
	key := fs.String("key", "", "idempotency `key` (default: a new UUIDv7, printed to stderr); repeating a key returns the same order")
	customer := fs.String("customer", "", "customer `id` (default: the token's subject; only admins may name another)")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("orders place: want at least one PRODUCT_ID=QTY")
	}
	items := make([]*ordersv1.OrderItem, 0, len(rest))
	for _, arg := range rest {
		item, err := parseItem("orders place", arg)
		if err != nil {
			return err
		}
		items = append(items, &ordersv1.OrderItem{ProductId: item.GetProductId(), Quantity: item.GetQuantity()})
	}
	if *key == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("new idempotency key: %w", err)
		}
		*key = u.String()
		// The key is what makes a retry safe, so say which one was used.
		p := &printer{w: c.stderr}
		p.printf("idempotency key: %s\n", *key)
	}
	req := &ordersv1.PlaceOrderRequest{IdempotencyKey: *key, CustomerId: *customer, Items: items}
	return ordersUnary(ctx, c, func(ctx context.Context, cl ordersv1.OrderServiceClient) (*ordersv1.PlaceOrderResponse, error) {
		return cl.PlaceOrder(ctx, req)
	}, func(p *printer, r *ordersv1.PlaceOrderResponse) { p.orderDetail(r.GetOrder()) })
}

func (c *cli) ordersGet(ctx context.Context, args []string) error {
	fs := c.flagSet("orders get", "orders get ORDER_ID")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("orders get: want exactly one ORDER_ID")
	}
	req := &ordersv1.GetOrderRequest{OrderId: rest[0]}
	return ordersUnary(ctx, c, func(ctx context.Context, cl ordersv1.OrderServiceClient) (*ordersv1.GetOrderResponse, error) {
		return cl.GetOrder(ctx, req)
	}, func(p *printer, r *ordersv1.GetOrderResponse) { p.orderDetail(r.GetOrder()) })
}

func (c *cli) ordersList(ctx context.Context, args []string) error {
	fs := c.flagSet("orders list", "orders list [--customer ID] [--page-size N] [--page-token T]")
	customer := fs.String("customer", "", "whose orders (admins only; default: the caller, or everyone's for an admin)")
	pageSize := fs.Int("page-size", 0, "orders per page (0: server default)")
	pageToken := fs.String("page-token", "", "the next page after this `token`")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("orders list: unexpected argument %q", rest[0])
	}
	size, err := int32Flag("page-size", *pageSize)
	if err != nil {
		return err
	}
	req := &ordersv1.ListOrdersRequest{CustomerId: *customer, PageSize: size, PageToken: *pageToken}
	return ordersUnary(ctx, c, func(ctx context.Context, cl ordersv1.OrderServiceClient) (*ordersv1.ListOrdersResponse, error) {
		return cl.ListOrders(ctx, req)
	}, func(p *printer, r *ordersv1.ListOrdersResponse) {
		p.orderHeader()
		for _, o := range r.GetOrders() {
			p.orderRow(o)
		}
		if r.GetNextPageToken() != "" {
			p.printf("next page: --page-token %s\n", r.GetNextPageToken())
		}
	})
}

func (c *cli) ordersCancel(ctx context.Context, args []string) error {
	fs := c.flagSet("orders cancel", "orders cancel [--reason TEXT] ORDER_ID")
	reason := fs.String("reason", "", "why, kept with the order")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("orders cancel: want exactly one ORDER_ID")
	}
	req := &ordersv1.CancelOrderRequest{OrderId: rest[0], Reason: *reason}
	return ordersUnary(ctx, c, func(ctx context.Context, cl ordersv1.OrderServiceClient) (*ordersv1.CancelOrderResponse, error) {
		return cl.CancelOrder(ctx, req)
	}, func(p *printer, r *ordersv1.CancelOrderResponse) { p.orderDetail(r.GetOrder()) })
}

// ordersUnary makes one OrderService call at --orders-addr.
func ordersUnary[R proto.Message](ctx context.Context, c *cli, call func(context.Context, ordersv1.OrderServiceClient) (R, error), text func(*printer, R)) error {
	return unaryAt(ctx, c, c.opts.ordersAddr, ordersv1.NewOrderServiceClient, call, text)
}

const orderRowFormat = "%-36s  %-10s  %14s  %5s  %-20s  %s\n"

func (p *printer) orderHeader() {
	p.printf(orderRowFormat, "ID", "STATUS", "TOTAL", "LINES", "CREATED", "CUSTOMER")
}

func (p *printer) orderRow(o *ordersv1.Order) {
	p.printf(orderRowFormat, o.GetId(), orderStatus(o.GetStatus()), formatOrderMoney(o.GetTotal()),
		strconv.Itoa(len(o.GetLines())), formatTime(o.GetCreatedAt()), o.GetCustomerId())
}

func (p *printer) orderDetail(o *ordersv1.Order) {
	p.printf("order %s: %s\n", o.GetId(), orderStatus(o.GetStatus()))
	p.printf("customer:  %s\n", o.GetCustomerId())
	p.printf("total:     %s\n", formatOrderMoney(o.GetTotal()))
	p.printf("created:   %s\n", formatTime(o.GetCreatedAt()))
	if o.GetCancelledAt() != nil {
		p.printf("cancelled: %s\n", formatTime(o.GetCancelledAt()))
	}
	for _, l := range o.GetLines() {
		p.printf("  %s  %-16s  x%d  at %s  = %s  %s\n", l.GetProductId(), l.GetSku(), l.GetQuantity(),
			formatOrderMoney(l.GetUnitPrice()), formatOrderMoney(l.GetLineTotal()), l.GetName())
	}
}

func orderStatus(s ordersv1.OrderStatus) string {
	return strings.TrimPrefix(s.String(), "ORDER_STATUS_")
}

func formatOrderMoney(m *ordersv1.Money) string {
	if m == nil {
		return "-"
	}
	return formatMinor(m.GetAmountMinor(), m.GetCurrencyCode())
}
