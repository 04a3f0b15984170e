-- The stream sequence of each event the inbox records. Rows recorded
-- before this migration have none.
ALTER TABLE consumer_inbox ADD COLUMN stream_seq bigint;

-- consumer_inbox_pruned remembers, per consumer, the history that pruning
-- made the inbox forget: the highest stream sequence and the newest
-- processed_at among the rows it deleted. A durable consumer created again
-- after it was lost starts after them, so it cannot handle a forgotten
-- event a second time.
CREATE TABLE consumer_inbox_pruned (
    consumer     text        PRIMARY KEY,
    stream_seq   bigint,
    processed_at timestamptz NOT NULL
);

---- create above / drop below ----

DROP TABLE consumer_inbox_pruned;
ALTER TABLE consumer_inbox DROP COLUMN stream_seq;
