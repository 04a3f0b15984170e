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

// OrderPlaced hands an order's reservation to the order once it is placed,
// so that the sweeper no longer gives its stock back after the TTL; only the
// order's cancellation does. Orders confirm the reservation themselves with
// ConfirmReservation right after the order commits; this handler is the
// backstop for when that call failed, and calls the same use case. The
// consumer runs it in the unit of work that records the event in its inbox,
// and only an active reservation is confirmed, so a redelivered or repeated
// event, or one that follows the RPC, changes nothing.
type OrderPlaced struct {
	app    *app.Service
	logger *slog.Logger
}

// NewOrderPlaced returns the handler of orders.order.placed.
func NewOrderPlaced(a *app.Service, logger *slog.Logger) *OrderPlaced {
	return &OrderPlaced{app: a, logger: logger}
}

// Handle is a consumer.Handler. An event that cannot be read is Permanent
// and goes to the dead-letter stream at once; an unknown reservation (the
// order reserved nothing here) or one that already ended needs nothing and
// is acknowledged (the use case logged how it ended); any other failure is
// retried.
func (h *OrderPlaced) Handle(ctx context.Context, msg consumer.Message) error {
	var e ordersv1.OrderPlaced
	if err := msg.DecodeAs(&e); err != nil {
		return consumer.Permanent(err)
	}
	id, err := contract.PlacedReservation(&e)
	if err != nil {
		return consumer.Permanent(err)
	}
	_, err = h.app.ConfirmReservation(ctx, id)
	var ended *domain.ReservationEndedError
	switch {
	case errors.Is(err, domain.ErrNotFound):
		h.logger.InfoContext(ctx, "placed order has no reservation; nothing to confirm",
			slog.String("order_id", id.String()), slog.String("event_id", msg.ID))
		return nil
	case errors.As(err, &ended):
		return nil
	}
	return err
}
