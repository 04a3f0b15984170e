package app

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// GetOrder returns an order of the caller, or any order to an admin.
// Another customer's order is reported as not found, so a customer cannot
// learn which order ids exist.
func (s *Service) GetOrder(ctx context.Context, caller Caller, id uuid.UUID) (domain.Order, error) {
	if caller.Subject == "" {
		return domain.Order{}, domain.ErrUnauthenticated
	}
	o, err := s.d.Reader.Get(ctx, id)
	if err != nil {
		return domain.Order{}, err
	}
	if !caller.canSee(o.CustomerID) {
		return domain.Order{}, domain.OrderNotFound(id)
	}
	return o, nil
}

// ListOrders asks for a page of a customer's orders.
type ListOrders struct {
	// CustomerID defaults to the caller; only admins may name another. An
	// admin who names nobody gets every customer's orders.
	CustomerID string
	// PageSize is at most MaxPageSize; 0 means the default.
	PageSize  int
	PageToken string
}

// OrderPage is one page of orders, newest first.
type OrderPage struct {
	Orders []domain.Order
	// NextPageToken resumes after the last order; empty on the last page.
	NextPageToken string
}

// ListOrders returns a page of a customer's orders, or for an admin who
// names no customer of every customer's, newest first.
func (s *Service) ListOrders(ctx context.Context, caller Caller, req ListOrders) (OrderPage, error) {
	customer, err := caller.listingFor(req.CustomerID)
	if err != nil {
		return OrderPage{}, err
	}
	size := req.PageSize
	switch {
	case size < 0:
		return OrderPage{}, apperr.Invalid("page_size", "must not be negative")
	case size == 0:
		size = s.cfg.DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	after, err := decodePageToken(req.PageToken, customer)
	if err != nil {
		return OrderPage{}, err
	}
	// One more than asked tells whether another page follows.
	orders, err := s.d.Reader.List(ctx, customer, after, size+1)
	if err != nil {
		return OrderPage{}, err
	}
	page := OrderPage{Orders: orders}
	if len(orders) > size {
		page.Orders = orders[:size]
		if page.NextPageToken, err = encodePageToken(customer, page.Orders[size-1]); err != nil {
			return OrderPage{}, err
		}
	}
	return page, nil
}

// CancelOrder cancels a confirmed order of the caller (or, for an admin,
// of anyone), enqueueing OrderCancelled in the same transaction; catalogue
// consumes it and releases the stock. Cancelling a cancelled order returns
// it unchanged.
func (s *Service) CancelOrder(ctx context.Context, caller Caller, id uuid.UUID, reason string) (domain.Order, error) {
	if caller.Subject == "" {
		return domain.Order{}, domain.ErrUnauthenticated
	}
	errHidden := errors.New("order of another customer")
	o, err := s.d.Orders.Update(ctx, id, func(o *domain.Order) (bool, error) {
		if !caller.canSee(o.CustomerID) {
			return false, errHidden
		}
		return o.Cancel(reason, s.now())
	})
	if errors.Is(err, errHidden) {
		return domain.Order{}, domain.OrderNotFound(id)
	}
	if err != nil {
		return domain.Order{}, err
	}
	return o, nil
}
