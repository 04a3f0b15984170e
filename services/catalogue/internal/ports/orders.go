package ports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/consumer"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// ReservationReleaser releases a reservation as part of a transaction the
// caller owns, and reports whether stock went back now.
type ReservationReleaser interface {
	ReleaseIn(ctx context.Context, tx pgx.Tx, id uuid.UUID) (domain.Reservation, bool, error)
}

// OrderCancelled gives back the stock an order had reserved once the order
// is cancelled, whether its reservation is still active or was confirmed
// when the order was placed. The consumer runs it in the transaction that
// records the event in its inbox, so a redelivered event changes nothing,
// and a reservation gives its stock back only once, so a second cancel event
// for the same order changes nothing either. The StockChanged events of the release
// invalidate every replica's product cache, this one's included.
type OrderCancelled struct {
	releaser ReservationReleaser
	logger   *slog.Logger
}

// NewOrderCancelled returns the handler of orders.order.cancelled.
func NewOrderCancelled(releaser ReservationReleaser, logger *slog.Logger) *OrderCancelled {
	return &OrderCancelled{releaser: releaser, logger: logger}
}

// Handle is a consumer.Handler. An event that cannot be read is Permanent
// and goes to the dead-letter stream at once; an unknown reservation (the
// order never reserved here, or its reservation row is gone) needs nothing
// and is acknowledged; any other failure is retried.
func (h *OrderCancelled) Handle(ctx context.Context, tx pgx.Tx, msg consumer.Message) error {
	var e ordersv1.OrderCancelled
	if err := decodeOrderEvent(msg, &e); err != nil {
		return consumer.Permanent(err)
	}
	id, err := contract.CancelledReservation(&e)
	if err != nil {
		return consumer.Permanent(err)
	}
	logger := h.logger.With(slog.String("order_id", id.String()), slog.String("event_id", msg.ID))
	r, released, err := h.releaser.ReleaseIn(ctx, tx, id)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		logger.InfoContext(ctx, "cancelled order has no reservation; nothing to release")
		return nil
	case err != nil:
		return err
	case released:
		logger.InfoContext(ctx, "reservation of cancelled order released", slog.Int("items", len(r.Items)))
	default:
		logger.InfoContext(ctx, "reservation of cancelled order had already ended", slog.String("status", r.Status.String()))
	}
	return nil
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
