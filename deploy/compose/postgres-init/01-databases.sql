-- One role and one database per service: each service owns its data.
-- The official postgres image and storefront-local/postgres both run this
-- once, when the data volume is first initialised (make down-volumes resets).
-- Dev-only passwords.
CREATE ROLE catalogue LOGIN PASSWORD 'catalogue';
CREATE DATABASE catalogue OWNER catalogue;
CREATE ROLE orders LOGIN PASSWORD 'orders';
CREATE DATABASE orders OWNER orders;
CREATE ROLE analytics LOGIN PASSWORD 'analytics';
CREATE DATABASE analytics OWNER analytics;
