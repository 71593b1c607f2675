-- Version 1: the catalog, stock, buyers, orders and their lines, flash sales, API tokens and
-- stored idempotent responses.
--
-- Written once for both backends (see src/migrations.rs): {ID} is a table's own 64-bit id
-- (SQLite: INTEGER, the rowid itself; PostgreSQL: BIGINT) and {WITHOUT_ROWID} keeps a table
-- with a composite key as that key's B-tree alone on SQLite. Times are unix epoch
-- milliseconds (UTC); money is integer fen; adcodes are their 12-digit integer. The CHECK
-- constraints repeat the core's stock and money invariants at the disk boundary.
--
-- A released migration never changes: a change to the schema is a new numbered file.

CREATE TABLE IF NOT EXISTS shops (
    id {ID} PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS warehouses (
    id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    adcode BIGINT NOT NULL,
    created_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS warehouses_by_shop ON warehouses (shop_id, id);

CREATE TABLE IF NOT EXISTS products (
    id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    gtin TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS products_by_shop ON products (shop_id, id);
CREATE INDEX IF NOT EXISTS products_by_gtin ON products (gtin) WHERE gtin IS NOT NULL;

CREATE TABLE IF NOT EXISTS skus (
    id {ID} PRIMARY KEY,
    product_id BIGINT NOT NULL,
    shop_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    price_fen BIGINT NOT NULL CHECK (price_fen >= 0),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS skus_by_product ON skus (product_id, id);

CREATE TABLE IF NOT EXISTS stock (
    sku_id BIGINT NOT NULL,
    warehouse_id BIGINT NOT NULL,
    shop_id BIGINT NOT NULL,
    available BIGINT NOT NULL CHECK (available >= 0),
    reserved BIGINT NOT NULL CHECK (reserved >= 0),
    sold BIGINT NOT NULL CHECK (sold >= 0),
    PRIMARY KEY (sku_id, warehouse_id)) {WITHOUT_ROWID};
CREATE INDEX IF NOT EXISTS stock_by_shop ON stock (shop_id);

CREATE TABLE IF NOT EXISTS buyers (
    id {ID} PRIMARY KEY,
    name TEXT NOT NULL,
    default_adcode BIGINT,
    default_address_detail TEXT,
    created_at BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS orders (
    id {ID} PRIMARY KEY,
    checkout_id BIGINT NOT NULL,
    shop_id BIGINT NOT NULL,
    buyer_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    total_fen BIGINT NOT NULL CHECK (total_fen >= 0),
    adcode BIGINT NOT NULL,
    address_detail TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    payment_due_at BIGINT NOT NULL,
    paid_at BIGINT,
    cancelled_at BIGINT,
    cancel_reason TEXT,
    request_ref TEXT,
    flash_sale_id BIGINT);
CREATE INDEX IF NOT EXISTS orders_by_shop ON orders (shop_id, created_at, id);
CREATE INDEX IF NOT EXISTS orders_by_buyer ON orders (buyer_id, created_at, id);
CREATE INDEX IF NOT EXISTS orders_open ON orders (shop_id) WHERE state = 'pending_payment';
-- Keyed by (sale, id), not (sale, buyer): ids grow, so a hot sale's orders append to the index
-- instead of dirtying a random page per order; start-up sums per buyer over a scan.
CREATE INDEX IF NOT EXISTS orders_by_flash_sale ON orders (flash_sale_id, id) WHERE flash_sale_id IS NOT NULL;
-- No index on request_ref: a hashed reference lands on a random index page, and a batch of
-- thousands of orders would then write thousands of pages. The shard (the only writer)
-- deduplicates references in memory and rebuilds that map at start with one scan.

CREATE TABLE IF NOT EXISTS flash_sales (
    id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    sku_id BIGINT NOT NULL,
    warehouse_id BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    price_fen BIGINT NOT NULL CHECK (price_fen >= 0),
    allotted BIGINT NOT NULL CHECK (allotted > 0),
    remaining BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= allotted),
    per_buyer_limit BIGINT NOT NULL CHECK (per_buyer_limit > 0),
    payment_timeout_seconds BIGINT NOT NULL,
    closed BIGINT NOT NULL,
    created_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS flash_sales_by_shop ON flash_sales (shop_id, id);

-- `allocations` is `warehouse:units` pairs separated by semicolons: where the line's units are
-- reserved or sold. A line has a handful at most, and it is always read with its line.
CREATE TABLE IF NOT EXISTS order_lines (
    order_id BIGINT NOT NULL,
    line_no BIGINT NOT NULL,
    sku_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_fen BIGINT NOT NULL CHECK (unit_price_fen >= 0),
    allocations TEXT NOT NULL,
    PRIMARY KEY (order_id, line_no)) {WITHOUT_ROWID};

CREATE TABLE IF NOT EXISTS api_tokens (
    id {ID} PRIMARY KEY,
    role TEXT NOT NULL,
    subject_id BIGINT,
    secret_sha256 TEXT NOT NULL,
    label TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT);

-- Stored responses are appended in id order and found by id: the server keeps a map from a
-- 128-bit fingerprint of (scope, key) to the id. An index on the caller's random key would
-- dirty a random page per response and dominate the cost of a batch.
CREATE TABLE IF NOT EXISTS idempotency_responses (
    id {ID} PRIMARY KEY,
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS idempotency_responses_by_age ON idempotency_responses (created_at);
