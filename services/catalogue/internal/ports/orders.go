package ports

import (
	"context"
	"errors"
	"log/slog"

	"github.com/storefront-go/storefront/libs/consumer"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// OrderCancelled gives back the stock an order had reserved once the order
// is cancelled, whether its reservation is still active or was confirmed
// when the order was placed, through the use case the ReleaseStock RPC
// calls. The consumer runs it in the unit of work that records the event in
// its inbox, so a redelivered event changes nothing, and a reservation
// gives its stock back only once, so a second cancel event for the same
// order changes nothing either. The StockChanged events of the release
// invalidate every replica's product cache, this one's included.
type OrderCancelled struct {
	app    *app.Service
	logger *slog.Logger
}

// NewOrderCancelled returns the handler of orders.order.cancelled.
func NewOrderCancelled(a *app.Service, logger *slog.Logger) *OrderCancelled {
	return &OrderCancelled{app: a, logger: logger}
}

// Handle is a consumer.Handler. An event that cannot be read is Permanent
// and goes to the dead-letter stream at once; an unknown reservation (the
// order never reserved here, or its reservation row is gone) needs nothing
// and is acknowledged; any other failure is retried.
func (h *OrderCancelled) Handle(ctx context.Context, msg consumer.Message) error {
	var e ordersv1.OrderCancelled
	if err := msg.DecodeAs(&e); err != nil {
		return consumer.Permanent(err)
	}
	id, err := contract.CancelledReservation(&e)
	if err != nil {
		return consumer.Permanent(err)
	}
	_, err = h.app.ReleaseStock(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		h.logger.InfoContext(ctx, "cancelled order has no reservation; nothing to release",
			slog.String("order_id", id.String()), slog.String("event_id", msg.ID))
		return nil
	}
	return err
}
