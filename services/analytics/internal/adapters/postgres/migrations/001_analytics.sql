-- Raw client events, one partition per UTC day of occurred_at, created
-- ahead of time by the service and dropped whole when older than the
-- retention. Postgres enforces uniqueness only within a partition, so an
-- event is identified by (event_id, occurred_at): a repeat of an event
-- carries both unchanged.
CREATE TABLE events (
    event_id    uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_name  text NOT NULL,
    user_id     text NOT NULL,
    product_id  uuid,
    properties  jsonb,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);

-- Per-product counters by bucket: width_minutes 1 (a minute) or 60 (an
-- hour). Every change is added to both widths in the transaction that
-- makes it (the event insert, or a business event's inbox row), so
-- statistics and raw events never disagree. Counters outlive the raw
-- events' partitions.
CREATE TABLE product_counts (
    product_id    uuid NOT NULL,
    width_minutes smallint NOT NULL CHECK (width_minutes IN (1, 60)),
    bucket        timestamptz NOT NULL,
    views         bigint NOT NULL DEFAULT 0,
    add_to_carts  bigint NOT NULL DEFAULT 0,
    orders        bigint NOT NULL DEFAULT 0,
    units_sold    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (product_id, width_minutes, bucket)
);
-- TopProducts: every product's buckets in a range.
CREATE INDEX product_counts_bucket_idx ON product_counts (width_minutes, bucket);

CREATE TABLE product_revenue (
    product_id    uuid NOT NULL,
    width_minutes smallint NOT NULL CHECK (width_minutes IN (1, 60)),
    bucket        timestamptz NOT NULL,
    currency_code text NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    amount_minor  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (product_id, width_minutes, bucket, currency_code)
);
CREATE INDEX product_revenue_bucket_idx ON product_revenue (currency_code, width_minutes, bucket);

-- What analytics knows of each order, so a placement and a cancellation
-- are each counted once whatever order they arrive in: a cancellation
-- that arrives first leaves a row without placed_at, and the placement
-- then counts nothing.
CREATE TABLE order_facts (
    order_id     uuid PRIMARY KEY,
    placed_at    timestamptz,
    cancelled_at timestamptz
);

-- The product dimension, from catalogue's product events.
CREATE TABLE products (
    product_id  uuid PRIMARY KEY,
    name        text NOT NULL,
    category_id text NOT NULL,
    deleted     boolean NOT NULL DEFAULT false,
    changed_at  timestamptz NOT NULL
);

---- create above / drop below ----

DROP TABLE products;
DROP TABLE order_facts;
DROP TABLE product_revenue;
DROP TABLE product_counts;
DROP TABLE events;
