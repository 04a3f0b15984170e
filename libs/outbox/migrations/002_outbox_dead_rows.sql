---- tern: disable-tx ----
-- Outside a transaction so the indexes can be built CONCURRENTLY: every
-- business transaction inserts into outbox_events, and a plain CREATE INDEX
-- would block those inserts for a scan of the whole table. Each statement
-- is safe to run again if the migration stops halfway.

-- dead_at parks a row that cannot be published; next_attempt_at spaces the
-- retries of a row that failed on its own account.
ALTER TABLE outbox_events
    ADD COLUMN IF NOT EXISTS dead_at timestamptz,
    ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz;

-- The relay's claim reads only pending rows that are not parked, oldest
-- first. Dropped first in case an interrupted run left it invalid.
DROP INDEX CONCURRENTLY IF EXISTS outbox_events_claim_idx;
CREATE INDEX CONCURRENTLY outbox_events_claim_idx ON outbox_events (created_at)
    WHERE published_at IS NULL AND dead_at IS NULL;

-- Replaced by outbox_events_claim_idx, which skips parked rows.
DROP INDEX CONCURRENTLY IF EXISTS outbox_events_pending_idx;

-- Counting and listing parked rows reads only them.
DROP INDEX CONCURRENTLY IF EXISTS outbox_events_dead_idx;
CREATE INDEX CONCURRENTLY outbox_events_dead_idx ON outbox_events (dead_at)
    WHERE dead_at IS NOT NULL;

---- create above / drop below ----

---- tern: disable-tx ----
-- Parked rows become pending again: the earlier relay knows no other state.
DROP INDEX CONCURRENTLY IF EXISTS outbox_events_dead_idx;
DROP INDEX CONCURRENTLY IF EXISTS outbox_events_pending_idx;
CREATE INDEX CONCURRENTLY outbox_events_pending_idx ON outbox_events (created_at)
    WHERE published_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS outbox_events_claim_idx;
ALTER TABLE outbox_events
    DROP COLUMN IF EXISTS next_attempt_at,
    DROP COLUMN IF EXISTS dead_at;
