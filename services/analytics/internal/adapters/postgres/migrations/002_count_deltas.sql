-- What ingested events add to the counters, appended in the transaction
-- that inserts the events and folded into product_counts later by the
-- service's compactor. A write appends one row however many events it
-- holds: the parallel arrays carry its (product, minute) deltas, and
-- first_minute and last_minute bound their minutes so a read skips the
-- rows outside its window. Appending never meets another writer's row
-- lock, where adding to product_counts directly would upsert a row per
-- product and minute on the write path. The statistics read
-- product_counts plus the rows not folded yet, in one statement, so they
-- always agree with the raw events.
CREATE TABLE count_deltas (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    first_minute timestamptz NOT NULL,
    last_minute  timestamptz NOT NULL,
    product_ids  uuid[] NOT NULL,
    minutes      timestamptz[] NOT NULL,
    views        bigint[] NOT NULL,
    add_to_carts bigint[] NOT NULL,
    CHECK (cardinality(product_ids) = cardinality(minutes)
       AND cardinality(product_ids) = cardinality(views)
       AND cardinality(product_ids) = cardinality(add_to_carts))
);

---- create above / drop below ----

DROP TABLE count_deltas;
