CREATE TABLE widgets (
    id bigint PRIMARY KEY,
    name text NOT NULL
);

---- create above / drop below ----

DROP TABLE widgets;
