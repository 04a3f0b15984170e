package ports

import (
	"context"
	"errors"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/storefront-go/storefront/libs/consumer"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// ReservationConfirmer confirms a reservation as part of a transaction the
// caller owns, and reports whether it changed now.
type ReservationConfirmer interface {
	ConfirmIn(ctx context.Context, tx pgx.Tx, id uuid.UUID) (domain.Reservation, domain.ConfirmResult, error)
}

// OrderPlaced hands an order's reservation to the order once it is placed,
// so that the sweeper no longer gives its stock back after the TTL; only the
// order's cancellation does. Orders confirm the reservation themselves with
// ConfirmReservation right after the order commits; this handler is the
// backstop for when that call failed. The consumer runs it in the
// transaction that records the event in its inbox, and only an active
// reservation is confirmed, so a redelivered or repeated event, or one that
// follows the RPC, changes nothing.
type OrderPlaced struct {
	confirmer ReservationConfirmer
	logger    *slog.Logger
}

// NewOrderPlaced returns the handler of orders.order.placed.
func NewOrderPlaced(confirmer ReservationConfirmer, logger *slog.Logger) *OrderPlaced {
	return &OrderPlaced{confirmer: confirmer, logger: logger}
}

// Handle is a consumer.Handler. An event that cannot be read is Permanent
// and goes to the dead-letter stream at once; an unknown reservation (the
// order reserved nothing here) or one that already ended needs nothing and
// is acknowledged; any other failure is retried.
//
// A reservation that expired before its order was placed has put its
// stock back on sale; ConfirmIn takes it again when every item still has
// enough (logged at WARN: the order's confirmation came after the TTL). When
// it cannot, the reservation stays expired and is logged at ERROR for
// someone to reconcile.
func (h *OrderPlaced) Handle(ctx context.Context, tx pgx.Tx, msg consumer.Message) error {
	var e ordersv1.OrderPlaced
	if err := decodeOrderEvent(msg, &e); err != nil {
		return consumer.Permanent(err)
	}
	id, err := contract.PlacedReservation(&e)
	if err != nil {
		return consumer.Permanent(err)
	}
	logger := h.logger.With(slog.String("order_id", id.String()), slog.String("event_id", msg.ID))
	r, result, err := h.confirmer.ConfirmIn(ctx, tx, id)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		logger.InfoContext(ctx, "placed order has no reservation; nothing to confirm")
		return nil
	case err != nil:
		return err
	case result == domain.ConfirmReinstated:
		// The order's confirmation came after the TTL: worth knowing about.
		logger.WarnContext(ctx, "reservation of placed order had expired; its stock was taken again and it is confirmed",
			slog.Int("items", len(r.Items)), slog.Time("expires_at", r.ExpiresAt))
	case result == domain.ConfirmConfirmed:
		logger.InfoContext(ctx, "reservation of placed order confirmed", slog.Int("items", len(r.Items)))
	case r.Status == domain.ReservationConfirmed:
		logger.DebugContext(ctx, "reservation of placed order was already confirmed")
	case r.Status == domain.ReservationExpired:
		logger.ErrorContext(ctx, "reservation of placed order had expired and its stock could not be taken again; the order may be oversold",
			slog.Int("items", len(r.Items)), slog.Time("expires_at", r.ExpiresAt))
	default:
		logger.InfoContext(ctx, "reservation of placed order had already been released", slog.String("status", r.Status.String()))
	}
	return nil
}
