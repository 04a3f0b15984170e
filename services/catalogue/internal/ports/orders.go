package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"

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
	if err := decodeOrderEvent(msg, &e); err != nil {
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

// decodeOrderEvent reads msg into event, whose type its subject promises. A
// message without a type header is read by its subject; one whose header
// names another type was published on the wrong subject.
func decodeOrderEvent(msg consumer.Message, event proto.Message) error {
	want := string(proto.MessageName(event))
	if msg.Type != "" && msg.Type != want {
		return fmt.Errorf("event on %s has type %q, want %s", msg.Subject, msg.Type, want)
	}
	if err := proto.Unmarshal(msg.Data, event); err != nil {
		return fmt.Errorf("decode %s: %w", want, err)
	}
	return nil
}
