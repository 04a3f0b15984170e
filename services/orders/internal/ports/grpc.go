// Package ports serves orders.v1.OrderService over gRPC. Handlers take the
// caller from the authenticated principal, convert messages, call the use
// cases and map domain errors to status codes; requests arrive already
// checked against the contract's validation rules.
package ports

import (
	"context"
	"errors"
	"log/slog"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/auth"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/contract"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// AdminRole is the token role that may read and act on any customer's orders.
const AdminRole = "admin"

// Handler implements ordersv1.OrderServiceServer.
type Handler struct {
	ordersv1.UnimplementedOrderServiceServer
	app    *app.Service
	logger *slog.Logger
}

var _ ordersv1.OrderServiceServer = (*Handler)(nil)

// NewHandler returns a handler over the use cases.
func NewHandler(a *app.Service, logger *slog.Logger) *Handler {
	return &Handler{app: a, logger: logger}
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

// fail turns err into a status error. Unexpected errors are logged here,
// once, and reach the caller only as INTERNAL; catalogue outages are logged
// with their cause, which the caller does not see.
func (h *Handler) fail(ctx context.Context, method string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller went away or ran out of time; whatever failed after
		// that is a consequence.
		err = ctxErr
	}
	st, internal := Status(err)
	var unavailable *domain.CatalogueUnavailableError
	switch {
	case internal:
		h.logger.ErrorContext(ctx, "request failed", slog.String("method", method), slog.Any("error", err))
	case errors.As(err, &unavailable):
		h.logger.WarnContext(ctx, "catalogue unavailable", slog.String("method", method),
			slog.String("reason", unavailable.Reason), slog.Any("error", unavailable.Cause))
	}
	return st.Err()
}

// PlaceOrder places an order idempotently.
func (h *Handler) PlaceOrder(ctx context.Context, req *ordersv1.PlaceOrderRequest) (*ordersv1.PlaceOrderResponse, error) {
	items, err := contract.Items(req.GetItems())
	if err != nil {
		return nil, h.fail(ctx, "PlaceOrder", err)
	}
	o, err := h.app.PlaceOrder(ctx, caller(ctx), app.PlaceOrder{
		IdempotencyKey: req.GetIdempotencyKey(),
		CustomerID:     req.GetCustomerId(),
		Items:          items,
	})
	if err != nil {
		return nil, h.fail(ctx, "PlaceOrder", err)
	}
	return &ordersv1.PlaceOrderResponse{Order: contract.Order(o)}, nil
}

// GetOrder returns one order of the caller (any order to an admin).
func (h *Handler) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.GetOrderResponse, error) {
	id, err := parseOrderID(req.GetOrderId())
	if err != nil {
		return nil, h.fail(ctx, "GetOrder", err)
	}
	o, err := h.app.GetOrder(ctx, caller(ctx), id)
	if err != nil {
		return nil, h.fail(ctx, "GetOrder", err)
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
		return nil, h.fail(ctx, "ListOrders", err)
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
		return nil, h.fail(ctx, "CancelOrder", err)
	}
	o, err := h.app.CancelOrder(ctx, caller(ctx), id, req.GetReason())
	if err != nil {
		return nil, h.fail(ctx, "CancelOrder", err)
	}
	return &ordersv1.CancelOrderResponse{Order: contract.Order(o)}, nil
}

func parseOrderID(raw string) (uuid.UUID, error) {
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, &domain.ValidationError{Field: "order_id", Description: "must be a UUID"}
	}
	return id, nil
}
