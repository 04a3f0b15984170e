-- A placed order's reservation is CONFIRMED: it holds its stock past the TTL
-- until the order is cancelled. The sweeper's partial index stays on ACTIVE.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('ACTIVE', 'CONFIRMED', 'RELEASED', 'EXPIRED'));

---- create above / drop below ----

-- Fails while CONFIRMED reservations exist, on purpose: turning them back
-- into ACTIVE would let the sweeper put placed orders' stock back on sale.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('ACTIVE', 'RELEASED', 'EXPIRED'));
