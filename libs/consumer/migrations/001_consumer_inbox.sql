-- consumer_inbox records every event a consumer has committed, so that a
-- redelivered event is recognised and skipped.
CREATE TABLE consumer_inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    subject      text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

---- create above / drop below ----

DROP TABLE consumer_inbox;
