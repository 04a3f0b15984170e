package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// OrderPlaced counts a placed order's products: one order, its units and
// its revenue per product, in the minute it was placed.
func (s *Service) OrderPlaced(ctx context.Context, o domain.Order) error {
	counted, err := s.d.Orders.Placed(ctx, o)
	if err != nil {
		return fmt.Errorf("count placed order %s: %w", o.ID, err)
	}
	if !counted {
		s.logger.InfoContext(ctx, "placed order not counted: recorded before, or cancelled already",
			slog.String("order_id", o.ID.String()))
	}
	return nil
}

// OrderCancelled takes a cancelled order out of the counters of the
// minute it was placed in, so a window's figures are net of cancellations.
func (s *Service) OrderCancelled(ctx context.Context, o domain.Order) error {
	subtracted, err := s.d.Orders.Cancelled(ctx, o)
	if err != nil {
		return fmt.Errorf("count cancelled order %s: %w", o.ID, err)
	}
	if !subtracted {
		s.logger.InfoContext(ctx, "cancelled order had not been counted; its placement will count nothing",
			slog.String("order_id", o.ID.String()))
	}
	return nil
}

// ProductChanged keeps the product dimension up to date.
func (s *Service) ProductChanged(ctx context.Context, p domain.Product) error {
	if err := s.d.Products.Upsert(ctx, p); err != nil {
		return fmt.Errorf("record product %s: %w", p.ID, err)
	}
	return nil
}
