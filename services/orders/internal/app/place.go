package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
	"github.com/storefront-go/storefront/libs/jobs"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// PlaceOrder is a request to place an order.
type PlaceOrder struct {
	IdempotencyKey string
	// CustomerID is optional; it defaults to the caller.
	CustomerID string
	Items      []domain.Item
}

// PlaceOrder places an order, exactly once per customer and idempotency
// key. The first attempt to claim the key does the work; concurrent
// duplicates wait for it and return its response (on the same replica
// without touching the database; across replicas by polling the key). A key reused with
// a different request fails with domain.ErrIdempotencyMismatch. An attempt
// that fails frees the key, so a later retry may succeed.
func (s *Service) PlaceOrder(ctx context.Context, caller Caller, req PlaceOrder) (domain.Order, error) {
	customer, err := caller.customerFor(req.CustomerID)
	if err != nil {
		return domain.Order{}, err
	}
	if req.IdempotencyKey == "" {
		return domain.Order{}, apperr.Invalid("idempotency_key", "must not be empty")
	}
	items, err := domain.NormalizeItems(req.Items)
	if err != nil {
		return domain.Order{}, err
	}
	hash := domain.RequestHash(req.IdempotencyKey, customer, items)

	// Duplicates on this replica share one attempt instead of each polling
	// the database: the first runs claimOrWait, the others wait for its
	// answer. A shared answer that is only the first caller giving up (its
	// context ended) is not theirs; they try again themselves. Only
	// duplicates give up after DuplicateWait: the caller whose attempt it is
	// waits for it, so a slow database ends its call with the database's
	// error or its own deadline, not with "in progress".
	flight := customer + "\x00" + req.IdempotencyKey + "\x00" + string(hash)
	waitCtx, cancel := context.WithTimeout(ctx, s.cfg.DuplicateWait)
	defer cancel()
	for {
		ours := make(chan struct{})
		ch := s.flights.DoChan(flight, func() (any, error) {
			close(ours)
			o, err := s.claimOrWait(ctx, customer, req.IdempotencyKey, items, hash)
			if err != nil && ctx.Err() != nil {
				return o, &callerGoneError{err: err}
			}
			return o, err
		})
		select {
		case res := <-ch:
			err := res.Err
			if gone, ok := errors.AsType[*callerGoneError](err); ok {
				if ctx.Err() == nil {
					// Not this caller's failure: try again.
					continue
				}
				err = gone.err
			}
			o, _ := res.Val.(domain.Order)
			return o, err
		case <-waitCtx.Done():
			if err := ctx.Err(); err != nil {
				return domain.Order{}, err
			}
			select {
			case <-ours:
				// This caller's own attempt: its answer comes, bounded by ctx.
				res := <-ch
				o, _ := res.Val.(domain.Order)
				if gone, ok := errors.AsType[*callerGoneError](res.Err); ok {
					return o, gone.err
				}
				return o, res.Err
			default:
				return domain.Order{}, domain.ErrRequestInProgress
			}
		}
	}
}

// callerGoneError marks an attempt that failed after its caller's context
// ended: an answer for that caller only.
type callerGoneError struct{ err error }

func (e *callerGoneError) Error() string { return e.err.Error() }
func (e *callerGoneError) Unwrap() error { return e.err }

// claimOrWait claims the key and places the order, or, when another
// attempt (on another replica, say) holds the key, polls for its stored
// answer for up to DuplicateWait.
func (s *Service) claimOrWait(ctx context.Context, customer, key string, items []domain.Item, hash []byte) (domain.Order, error) {
	if err := s.d.Catalogue.Unavailable(); err != nil {
		// Catalogue is known to be down: an attempt would claim the key only
		// to free it again. Fail at once, without touching the database,
		// which an outage's retry storm would otherwise load; a retry of an
		// order placed earlier gets its stored answer once catalogue is back.
		return domain.Order{}, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, s.cfg.DuplicateWait)
	defer cancel()
	delay := minDuplicatePoll
	for {
		orderID, err := uuid.NewV7()
		if err != nil {
			return domain.Order{}, fmt.Errorf("new order id: %w", err)
		}
		claim := Claim{
			CustomerID: customer, Key: key, RequestHash: hash,
			OrderID: orderID, Lease: s.cfg.ClaimLease, TTL: s.cfg.KeyTTL,
		}
		rec, claimed, found, err := s.d.Keys.Claim(ctx, claim)
		switch {
		case err != nil:
			return domain.Order{}, fmt.Errorf("claim idempotency key: %w", err)
		case claimed:
			return s.place(ctx, KeyRef{CustomerID: customer, Key: key, OrderID: orderID}, items)
		case found && !bytes.Equal(rec.RequestHash, hash):
			return domain.Order{}, domain.ErrIdempotencyMismatch
		case found && rec.Completed:
			return rec.Placed, nil
		}
		// Another attempt holds the key: wait for it to finish or give up.
		select {
		case <-waitCtx.Done():
			if err := ctx.Err(); err != nil {
				return domain.Order{}, err
			}
			return domain.Order{}, domain.ErrRequestInProgress
		case <-time.After(delay):
		}
		delay = min(2*delay, maxDuplicatePoll)
	}
}

// place does the work of the attempt that holds the key: price the items,
// reserve stock under the order id, commit order, key and event together,
// then confirm the reservation so that it no longer expires. Every failure
// frees the key; a failure after the reservation also releases it, with the
// reservation's TTL as the safety net, unless the order may have been
// committed after all.
func (s *Service) place(ctx context.Context, key KeyRef, items []domain.Item) (_ domain.Order, err error) {
	// The claim is leased; finishing well inside the lease keeps another
	// attempt from taking over a key that is still being worked on.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ClaimLease/2)
	defer cancel()
	reserved := false
	defer func() {
		if err == nil {
			return
		}
		if reserved {
			s.release(ctx, key.OrderID)
		}
		if errors.Is(err, ErrClaimLost) {
			err = domain.ErrRequestInProgress
			return
		}
		s.abandon(ctx, key)
	}()

	ids := make([]uuid.UUID, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	products, err := s.d.Catalogue.Products(ctx, ids)
	if err != nil {
		// Pricing is a read: nothing is reserved yet, and the caller may know it.
		if unavailable, ok := errors.AsType[*domain.CatalogueUnavailableError](err); ok {
			known := *unavailable
			known.NothingReserved = true
			return domain.Order{}, &known
		}
		return domain.Order{}, err
	}
	byID := make(map[uuid.UUID]domain.Product, len(products))
	for _, p := range products {
		byID[p.ID] = p
	}
	o, err := domain.NewOrder(key.OrderID, key.CustomerID, items, byID, s.now())
	if err != nil {
		return domain.Order{}, err
	}

	if err := s.d.Catalogue.Reserve(ctx, o.ID, items); err != nil {
		// Unless catalogue definitely refused or never got the call, the
		// reservation may have happened without an answer reaching us:
		// release it too.
		var unavailable *domain.CatalogueUnavailableError
		unsent := errors.As(err, &unavailable) && unavailable.Unsent
		reserved = !unsent && !errors.Is(err, domain.ErrInsufficientStock) && !errors.Is(err, domain.ErrNotFound)
		return domain.Order{}, err
	}
	reserved = true

	if err := s.store(ctx, o, key); err != nil {
		err = fmt.Errorf("store order %s: %w", o.ID, err)
		if errors.Is(err, ErrClaimLost) {
			// Refused before anything was written: certainly not committed.
			return domain.Order{}, err
		}
		stored, found, readErr := s.committed(ctx, key)
		switch {
		case found:
			// The commit went through but its answer was lost (the
			// connection dropped during COMMIT, say): the order stands.
			s.logger.WarnContext(ctx, "order committed although storing it reported an error",
				slog.String("order_id", o.ID.String()), slog.Any("error", err))
			o = stored
		case readErr != nil:
			// Whether the order exists is unknown. Releasing could leave a
			// committed order without stock, so the reservation is left to
			// OrderPlaced, should the order exist, or else to its TTL.
			reserved = false
			s.logger.WarnContext(ctx, "cannot tell whether the order was committed; its reservation is left to expire unless the order exists",
				slog.String("order_id", o.ID.String()), slog.Any("error", readErr))
			return domain.Order{}, err
		default:
			return domain.Order{}, err
		}
	}
	s.confirm(ctx, o.ID)
	return o, nil
}

// store commits the order detached from the caller, within storeTimeout:
// a caller that gives up mid-COMMIT must not make the outcome unknown.
func (s *Service) store(ctx context.Context, o domain.Order, key KeyRef) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	return s.d.Orders.Create(ctx, o, key) //nolint:wrapcheck // wrapped by the caller with the order id
}

// committed finds out whether the order of key was committed after its
// commit reported an error, waiting for a transaction still completing it.
// found reports that it was; err that the outcome is still unknown.
func (s *Service) committed(ctx context.Context, key KeyRef) (_ domain.Order, found bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	o, found, err := s.d.Orders.Outcome(ctx, key)
	if err != nil {
		return domain.Order{}, false, fmt.Errorf("read order %s back: %w", key.OrderID, err)
	}
	return o, found, nil
}

// confirm asks catalogue to confirm a committed order's reservation, so
// that it is not expired before OrderPlaced reaches catalogue. The order
// stands whatever happens here: a failure is logged, and catalogue still
// confirms the reservation when it consumes OrderPlaced. A reservation that
// had already ended, though, holds no stock for the order any more: that is
// logged at ERROR and counted, for someone to reconcile.
func (s *Service) confirm(ctx context.Context, id uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	err := s.d.Confirmer.Confirm(ctx, id)
	switch {
	case err == nil:
	case errors.Is(err, domain.ErrReservationEnded):
		s.d.Unconfirmed.Inc()
		s.logger.ErrorContext(ctx, "reservation of placed order had ended before it was confirmed; its stock is back on sale and the order may be oversold",
			slog.String("order_id", id.String()), slog.Any("error", err))
	default:
		s.logger.WarnContext(ctx, "confirm reservation of placed order; catalogue confirms it when it consumes OrderPlaced",
			slog.String("order_id", id.String()), slog.Any("error", err))
	}
}

// release gives a failed attempt's reservation back, best effort: when it
// fails the reservation expires by itself.
func (s *Service) release(ctx context.Context, id uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := s.d.Catalogue.Release(ctx, id); err != nil {
		s.logger.WarnContext(ctx, "release reservation of failed order; it will expire",
			slog.String("order_id", id.String()), slog.Any("error", err))
	}
}

// abandon frees the key of a failed attempt. When that fails the claim
// lapses after its lease.
func (s *Service) abandon(ctx context.Context, key KeyRef) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := s.d.Keys.Abandon(ctx, key); err != nil {
		s.logger.WarnContext(ctx, "free idempotency key of failed order; it frees itself after the claim lease",
			slog.String("order_id", key.OrderID.String()), slog.Any("error", err))
	}
}

// SweepKeys deletes expired keys batch by batch and returns how many. The
// host runs it every SweepInterval. Expired keys are already treated as
// absent; this keeps the table small.
func (s *Service) SweepKeys(ctx context.Context) (int, error) {
	return jobs.Drain(ctx, s.cfg.SweepBatch, maxSweepBatchesPerTick, s.d.Keys.DeleteExpired)
}
