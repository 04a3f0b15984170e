CREATE TABLE outbox_events (
    id           uuid PRIMARY KEY,
    subject      text NOT NULL,
    event_type   text NOT NULL,
    payload      bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     int NOT NULL DEFAULT 0,
    last_error   text
);

-- The relay's poll reads only pending rows, oldest first.
CREATE INDEX outbox_events_pending_idx ON outbox_events (created_at) WHERE published_at IS NULL;

-- Cleanup finds published rows past retention without scanning the table.
CREATE INDEX outbox_events_published_idx ON outbox_events (published_at) WHERE published_at IS NOT NULL;

---- create above / drop below ----

DROP TABLE outbox_events;
