-- Version 12: the compass's breadth, per shop and hour (hour_ms: UTC epoch milliseconds at the
-- hour's start), folded from the outbox by the compass reader in the same transaction as its
-- cursor moves: where buyers are (city-level adcodes), which SKUs sell, how each warehouse
-- fulfils, and what after-sales asks. The last three tables are the reader's own memory of what
-- it has seen (a stock row's last available units, a shipment's warehouse and whether its
-- delivery was counted, how many steps of a request's timeline were counted), so that an event
-- repeating a state never counts twice. Version 11 belongs to another capability.

CREATE TABLE IF NOT EXISTS compass_regions (
    shop_id BIGINT NOT NULL,
    hour_ms BIGINT NOT NULL,
    adcode BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    units BIGINT NOT NULL,
    gmv_fen BIGINT NOT NULL,
    paid_orders BIGINT NOT NULL,
    paid_fen BIGINT NOT NULL,
    PRIMARY KEY (shop_id, hour_ms, adcode)) {WITHOUT_ROWID};

CREATE TABLE IF NOT EXISTS compass_skus (
    shop_id BIGINT NOT NULL,
    hour_ms BIGINT NOT NULL,
    sku BIGINT NOT NULL,
    product BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    units BIGINT NOT NULL,
    gmv_fen BIGINT NOT NULL,
    paid_units BIGINT NOT NULL,
    refunds BIGINT NOT NULL,
    refunded_fen BIGINT NOT NULL,
    stock_outs BIGINT NOT NULL,
    PRIMARY KEY (shop_id, hour_ms, sku)) {WITHOUT_ROWID};

CREATE TABLE IF NOT EXISTS compass_warehouses (
    shop_id BIGINT NOT NULL,
    hour_ms BIGINT NOT NULL,
    warehouse BIGINT NOT NULL,
    dispatched BIGINT NOT NULL,
    split_orders BIGINT NOT NULL,
    promise_kept BIGINT NOT NULL,
    shipped BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    delivered_late BIGINT NOT NULL,
    alerts_raised BIGINT NOT NULL,
    alerts_resolved BIGINT NOT NULL,
    PRIMARY KEY (shop_id, hour_ms, warehouse)) {WITHOUT_ROWID};

CREATE TABLE IF NOT EXISTS compass_after_sales (
    shop_id BIGINT NOT NULL,
    hour_ms BIGINT NOT NULL,
    sku BIGINT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested BIGINT NOT NULL,
    approved BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    refunded BIGINT NOT NULL,
    refunded_fen BIGINT NOT NULL,
    PRIMARY KEY (shop_id, hour_ms, sku, kind, reason)) {WITHOUT_ROWID};

CREATE TABLE IF NOT EXISTS compass_stock_rows (
    sku BIGINT NOT NULL,
    warehouse BIGINT NOT NULL,
    available BIGINT NOT NULL,
    PRIMARY KEY (sku, warehouse)) {WITHOUT_ROWID};

CREATE TABLE IF NOT EXISTS compass_shipments (
    shipment BIGINT NOT NULL PRIMARY KEY,
    warehouse BIGINT NOT NULL,
    delivered BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS compass_requests (
    request BIGINT NOT NULL PRIMARY KEY,
    steps BIGINT NOT NULL);
