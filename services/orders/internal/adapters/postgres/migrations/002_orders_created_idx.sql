-- ListOrders for an admin who names no customer: every order, newest first,
-- resumed by (created_at, id).
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);

---- create above / drop below ----

DROP INDEX orders_created_idx;
