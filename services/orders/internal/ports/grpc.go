// Package ports serves orders.v1.OrderService over gRPC. Handlers take the
// caller from the authenticated principal, convert messages, call the use
// cases and return their errors as they are, for interceptor.UnaryErrors to
// map to status codes; requests arrive already checked against the
// contract's validation rules.
package ports

import (
	"context"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/libs/auth"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/contract"
)

// AdminRole is the token role that may read and act on any customer's orders.
const AdminRole = "admin"

// Handler implements ordersv1.OrderServiceServer.
type Handler struct {
	ordersv1.UnimplementedOrderServiceServer
	app *app.Service
}

var _ ordersv1.OrderServiceServer = (*Handler)(nil)

// NewHandler returns a handler over the use cases. It logs nothing: the
// logging and errors interceptors do.
func NewHandler(a *app.Service) *Handler {
	return &Handler{app: a}
}

// caller returns who is calling, from the principal the auth interceptor
// attached.
func caller(ctx context.Context) app.Caller {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return app.Caller{}
	}
	return app.Caller{Subject: p.Subject, Admin: p.HasRole(AdminRole)}
}

// PlaceOrder places an order idempotently.
func (h *Handler) PlaceOrder(ctx context.Context, req *ordersv1.PlaceOrderRequest) (*ordersv1.PlaceOrderResponse, error) {
	items, err := contract.Items(req.GetItems())
	if err != nil {
		return nil, err
	}
	o, err := h.app.PlaceOrder(ctx, caller(ctx), app.PlaceOrder{
		IdempotencyKey: req.GetIdempotencyKey(),
		CustomerID:     req.GetCustomerId(),
		Items:          items,
	})
	if err != nil {
		return nil, err
	}
	return &ordersv1.PlaceOrderResponse{Order: contract.Order(o)}, nil
}

// GetOrder returns one order of the caller (any order to an admin).
func (h *Handler) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.GetOrderResponse, error) {
	id, err := parseOrderID(req.GetOrderId())
	if err != nil {
		return nil, err
	}
	o, err := h.app.GetOrder(ctx, caller(ctx), id)
	if err != nil {
		return nil, err
	}
	return &ordersv1.GetOrderResponse{Order: contract.Order(o)}, nil
}

// ListOrders returns a page of a customer's orders, newest first.
func (h *Handler) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	page, err := h.app.ListOrders(ctx, caller(ctx), app.ListOrders{
		CustomerID: req.GetCustomerId(),
		PageSize:   int(req.GetPageSize()),
		PageToken:  req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &ordersv1.ListOrdersResponse{
		Orders:        make([]*ordersv1.Order, len(page.Orders)),
		NextPageToken: page.NextPageToken,
	}
	for i, o := range page.Orders {
		resp.Orders[i] = contract.Order(o)
	}
	return resp, nil
}

// CancelOrder cancels a confirmed order; a cancelled one is returned as is.
func (h *Handler) CancelOrder(ctx context.Context, req *ordersv1.CancelOrderRequest) (*ordersv1.CancelOrderResponse, error) {
	id, err := parseOrderID(req.GetOrderId())
	if err != nil {
		return nil, err
	}
	o, err := h.app.CancelOrder(ctx, caller(ctx), id, req.GetReason())
	if err != nil {
		return nil, err
	}
	return &ordersv1.CancelOrderResponse{Order: contract.Order(o)}, nil
}

func parseOrderID(raw string) (uuid.UUID, error) {
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, apperr.Invalid("order_id", "must be a UUID")
	}
	return id, nil
}
