CREATE TABLE orders (
    id            uuid PRIMARY KEY,
    customer_id   text NOT NULL,
    status        text NOT NULL CHECK (status IN ('CONFIRMED', 'CANCELLED')),
    currency_code text NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    total_minor   bigint NOT NULL CHECK (total_minor >= 0),
    cancel_reason text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    cancelled_at  timestamptz,
    CHECK ((status = 'CANCELLED') = (cancelled_at IS NOT NULL))
);

-- ListOrders: one customer's orders, newest first, resumed by (created_at, id).
CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id         uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          int NOT NULL CHECK (line_no >= 0),
    product_id       uuid NOT NULL,
    sku              text NOT NULL,
    name             text NOT NULL,
    quantity         int NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    line_total_minor bigint NOT NULL CHECK (line_total_minor >= 0),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, product_id)
);

-- One row per (customer, key). A PENDING row is a claim by the attempt that
-- will create order_id, held until claimed_until; COMPLETED rows hold the
-- response that retries get. Rows past expires_at count as absent.
CREATE TABLE idempotency_keys (
    customer_id   text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    order_id      uuid NOT NULL,
    state         text NOT NULL CHECK (state IN ('PENDING', 'COMPLETED')),
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz NOT NULL,
    completed_at  timestamptz,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (customer_id, key),
    CHECK ((state = 'COMPLETED') = (response IS NOT NULL))
);

-- The sweeper deletes expired keys oldest first.
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

---- create above / drop below ----

DROP TABLE idempotency_keys;
DROP TABLE order_lines;
DROP TABLE orders;
