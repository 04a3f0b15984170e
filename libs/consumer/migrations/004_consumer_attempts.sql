-- consumer_attempts counts the attempts of an event that are the handler's
-- to answer for, the budget MaxDeliver sets; deliveries handed back while
-- the database was unreachable are not counted. stream_seq tells copies of
-- one event apart: a re-driven copy starts a budget of its own.
-- dead_reason is set once the runner has decided to dead-letter the event
-- but could not store the dead letter: later deliveries only retry that.
CREATE TABLE consumer_attempts (
    consumer    text        NOT NULL,
    event_id    text        NOT NULL,
    stream_seq  bigint      NOT NULL,
    attempts    integer     NOT NULL,
    dead_reason text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Pruning deletes one consumer's stale rows; this index finds them.
CREATE INDEX consumer_attempts_updated_at ON consumer_attempts (consumer, updated_at);

---- create above / drop below ----

DROP TABLE consumer_attempts;
