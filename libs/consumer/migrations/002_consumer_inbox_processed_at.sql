-- Pruning deletes one consumer's oldest rows; this index finds them.
CREATE INDEX consumer_inbox_processed_at ON consumer_inbox (consumer, processed_at);

---- create above / drop below ----

DROP INDEX consumer_inbox_processed_at;
