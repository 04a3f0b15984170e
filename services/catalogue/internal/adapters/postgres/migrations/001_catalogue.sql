-- Categories are slugs; products create them on first use.
CREATE TABLE categories (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id               uuid PRIMARY KEY,
    sku              text NOT NULL CONSTRAINT products_sku_key UNIQUE,
    name             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    category_id      text NOT NULL REFERENCES categories (id),
    price_minor      bigint NOT NULL CHECK (price_minor >= 0),
    currency_code    text NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    -- Stock can never go negative, whatever the code above does.
    stock_qty        bigint NOT NULL CONSTRAINT products_stock_qty_nonnegative CHECK (stock_qty >= 0),
    image_urls       text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- Time of the last stock change, strictly increasing per product; it
    -- orders StockChanged events for watchers.
    stock_changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    search           tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A') ||
        setweight(to_tsvector('english', description), 'B')
    ) STORED
);

CREATE INDEX products_search_idx ON products USING gin (search);
CREATE INDEX products_category_id_idx ON products (category_id, id);
CREATE INDEX products_name_id_idx ON products (name, id);

CREATE TABLE reservations (
    id          uuid PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('ACTIVE', 'RELEASED', 'EXPIRED')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    released_at timestamptz
);

-- The sweeper looks only at active reservations, oldest expiry first.
CREATE INDEX reservations_active_expires_at_idx ON reservations (expires_at) WHERE status = 'ACTIVE';

-- product_id has no foreign key: a product may be deleted while reserved,
-- and giving its stock back then simply has nothing to update.
CREATE TABLE reservation_items (
    reservation_id uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    product_id     uuid NOT NULL,
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);

---- create above / drop below ----

DROP TABLE reservation_items;
DROP TABLE reservations;
DROP TABLE products;
DROP TABLE categories;
