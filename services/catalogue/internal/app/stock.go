package app

import (
	"context"
	"log/slog"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/jobs"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// maxBatchesPerSweep bounds one sweep; what is left waits for the next.
const maxBatchesPerSweep = 100

// ReserveStock reserves every item or none. A repeated id with the same
// items returns the stored reservation; with other items it fails with a
// domain.ReservationConflictError.
func (s *Service) ReserveStock(ctx context.Context, id uuid.UUID, items []domain.ReservationItem) (domain.Reservation, error) {
	sorted, err := domain.NewReservation(id, items)
	if err != nil {
		return domain.Reservation{}, err
	}
	r, err := s.d.Stock.Reserve(ctx, id, sorted, s.cfg.ReservationTTL)
	if err != nil {
		return domain.Reservation{}, err
	}
	s.invalidate(r.Items)
	return r, nil
}

// ReleaseStock ends a reservation, giving its stock back exactly once. The
// ReleaseStock RPC and the consumer of cancelled orders both call it; under
// the consumer, ctx carries the transaction of the event's inbox row.
func (s *Service) ReleaseStock(ctx context.Context, id uuid.UUID) (domain.Reservation, error) {
	r, released, err := s.d.Stock.Release(ctx, id)
	if err != nil {
		return domain.Reservation{}, err
	}
	s.invalidate(r.Items)
	logger := s.logger.With(slog.String("reservation_id", id.String()))
	if released {
		logger.InfoContext(ctx, "reservation released", slog.Int("items", len(r.Items)))
	} else {
		logger.InfoContext(ctx, "reservation had already ended", slog.String("status", r.Status.String()))
	}
	return r, nil
}

// ConfirmReservation hands a reservation to the order placed with it, so
// that the sweeper no longer expires it; confirming a confirmed reservation
// returns it unchanged. One still active past its TTL, not yet swept, still
// holds its stock and is confirmed. One that expired first is reinstated
// when its stock can be taken again, which changes stock, so its products
// leave this replica's cache. A reservation that was released, or expired
// and could not be reinstated, fails with a *domain.ReservationEndedError:
// the order cannot be fulfilled from it.
//
// The ConfirmReservation RPC and the consumer of placed orders (the
// backstop for a confirmation that failed) both call it; under the
// consumer, ctx carries the transaction of the event's inbox row.
func (s *Service) ConfirmReservation(ctx context.Context, id uuid.UUID) (domain.Reservation, error) {
	r, result, err := s.d.Confirmer.Confirm(ctx, id)
	if err != nil {
		return domain.Reservation{}, err
	}
	s.invalidate(r.Items)
	s.logConfirmation(ctx, s.logger.With(slog.String("reservation_id", id.String())), r, result)
	if err := r.CheckConfirmed(); err != nil {
		return domain.Reservation{}, err
	}
	return r, nil
}

// logConfirmation reports the outcome of a confirmation once, as loudly as
// it deserves: a late confirmation that took the stock again is worth a
// warning, and one that could not is an order that may be oversold.
func (s *Service) logConfirmation(ctx context.Context, logger *slog.Logger, r domain.Reservation, result domain.ConfirmResult) {
	switch {
	case result == domain.ConfirmReinstated:
		logger.WarnContext(ctx, "reservation had expired; its stock was taken again and it is confirmed",
			slog.Int("items", len(r.Items)), slog.Time("expires_at", r.ExpiresAt))
	case result == domain.ConfirmConfirmed:
		logger.InfoContext(ctx, "reservation confirmed", slog.Int("items", len(r.Items)))
	case r.Status == domain.ReservationConfirmed:
		logger.DebugContext(ctx, "reservation was already confirmed")
	case r.Status == domain.ReservationExpired:
		if s.d.Unbacked != nil {
			s.d.Unbacked.Inc(ReasonExpiredNotReinstated)
		}
		logger.ErrorContext(ctx, "reservation had expired and its stock could not be taken again; the order may be oversold",
			slog.Int("items", len(r.Items)), slog.Time("expires_at", r.ExpiresAt))
	default:
		logger.InfoContext(ctx, "reservation had already been released", slog.String("status", r.Status.String()))
	}
}

func (s *Service) invalidate(items []domain.ReservationItem) {
	for _, it := range items {
		s.d.Cache.Invalidate(it.ProductID)
	}
}

// SweepOnce expires reservations past their TTL, batch by batch, and
// returns how many it expired. The host runs it every SweepInterval;
// several replicas may sweep at once, and each reservation is expired by
// one of them.
func (s *Service) SweepOnce(ctx context.Context) (int, error) {
	return jobs.Drain(ctx, s.cfg.SweepBatch, maxBatchesPerSweep, s.d.Expirer.ExpireReservations)
}

// WatchAvailability registers a watcher for ids and returns it with their
// current stock in request order. The watcher is registered first, so no
// change is lost between the snapshot and the stream; changes older than
// the snapshot are skipped by the watcher. Unknown ids fail the call with
// a domain.NotFoundError naming them.
func (s *Service) WatchAvailability(ctx context.Context, ids []uuid.UUID) (Watcher, []domain.Availability, error) {
	w, err := s.d.Watches.Watch(ids)
	if err != nil {
		return nil, nil, err
	}
	snap, err := s.d.Products.Availability(ctx, ids)
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	byID := make(map[uuid.UUID]domain.Availability, len(snap))
	for _, a := range snap {
		byID[a.ProductID] = a
	}
	ordered := make([]domain.Availability, 0, len(ids))
	var missing []uuid.UUID
	for _, id := range ids {
		a, ok := byID[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		w.Seen(a)
		ordered = append(ordered, a)
	}
	if len(missing) > 0 {
		w.Close()
		return nil, nil, domain.ProductNotFound(missing...)
	}
	return w, ordered, nil
}
