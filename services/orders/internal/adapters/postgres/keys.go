package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/contract"
)

// Claim takes the key when it is absent, expired, or held by a PENDING
// claim whose lease ran out; otherwise it returns the holder's record. The
// INSERT waits for a concurrent claimer's statement, so exactly one of many
// simultaneous duplicates wins.
func (s *Store) Claim(ctx context.Context, c app.Claim) (app.KeyRecord, bool, bool, error) {
	var won bool
	err := s.pool.QueryRow(ctx, `
		INSERT INTO idempotency_keys AS k
			(customer_id, key, request_hash, order_id, state, created_at, claimed_until, expires_at)
		VALUES ($1, $2, $3, $4, 'PENDING', now(),
			now() + $5 * interval '1 microsecond', now() + $6 * interval '1 microsecond')
		ON CONFLICT (customer_id, key) DO UPDATE SET
			request_hash  = EXCLUDED.request_hash,
			order_id      = EXCLUDED.order_id,
			state         = 'PENDING',
			response      = NULL,
			completed_at  = NULL,
			created_at    = EXCLUDED.created_at,
			claimed_until = EXCLUDED.claimed_until,
			expires_at    = EXCLUDED.expires_at
		WHERE k.expires_at <= now()
		   OR (k.state = 'PENDING' AND k.claimed_until <= now())
		RETURNING true`,
		c.CustomerID, c.Key, c.RequestHash, c.OrderID, c.Lease.Microseconds(), c.TTL.Microseconds(),
	).Scan(&won)
	switch {
	case err == nil:
		return app.KeyRecord{}, true, true, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return app.KeyRecord{}, false, false, fmt.Errorf("claim key %q of customer %s: %w", c.Key, c.CustomerID, err)
	}

	rec, found, err := s.lookup(ctx, c.CustomerID, c.Key)
	// Not found: abandoned or expired since the INSERT; the caller tries again.
	return rec, false, found, err
}

// lookup reads a live key without claiming it.
func (s *Store) lookup(ctx context.Context, customerID, key string) (app.KeyRecord, bool, error) {
	var (
		rec      app.KeyRecord
		state    string
		response []byte
	)
	err := s.pool.QueryRow(ctx, `
		SELECT request_hash, order_id, state, response FROM idempotency_keys
		WHERE customer_id = $1 AND key = $2 AND expires_at > now()`,
		customerID, key,
	).Scan(&rec.RequestHash, &rec.OrderID, &state, &response)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return app.KeyRecord{}, false, nil
	case err != nil:
		return app.KeyRecord{}, false, fmt.Errorf("read key %q of customer %s: %w", key, customerID, err)
	}
	rec.Completed = state == "COMPLETED"
	if rec.Completed {
		if rec.Placed, err = contract.DecodePlaceOrderResponse(response); err != nil {
			return app.KeyRecord{}, false, fmt.Errorf("replay order %s: %w", rec.OrderID, err)
		}
	}
	return rec, true, nil
}

// Abandon deletes a claim that is still PENDING under ref's order id.
func (s *Store) Abandon(ctx context.Context, ref app.KeyRef) error {
	_, err := s.pool.Exec(ctx, `
		DELETE FROM idempotency_keys
		WHERE customer_id = $1 AND key = $2 AND order_id = $3 AND state = 'PENDING'`,
		ref.CustomerID, ref.Key, ref.OrderID)
	if err != nil {
		return fmt.Errorf("abandon key %q of customer %s: %w", ref.Key, ref.CustomerID, err)
	}
	return nil
}

// DeleteExpired deletes up to limit expired keys. Rows locked by a claim in
// progress are skipped.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM idempotency_keys
		WHERE (customer_id, key) IN (
			SELECT customer_id, key FROM idempotency_keys
			WHERE expires_at <= now()
			ORDER BY expires_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED)`, limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
