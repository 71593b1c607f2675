-- Version 3: fulfillment and logistics. An order keeps its delivery promise; warehouse
-- settings, dispatch decisions and booked capacity; shipments, package-center alerts, shortage
-- notices and SLA rules.
--
-- The JSON columns (promise_json, settings_json, decision_json and the `body` columns) hold the
-- store's versioned storage types (src/json.rs): read whole, written whole, never queried into.

ALTER TABLE orders ADD COLUMN promise_json TEXT;
-- A starting shard reloads the orders on their way (paid or shipped, not yet delivered).
CREATE INDEX IF NOT EXISTS orders_fulfilling ON orders (shop_id) WHERE state IN ('paid', 'shipped');
-- Early version-2 databases were created before this index existed (it came without a version
-- of its own); every later start created it, so version 3 is where it is certain to exist.
CREATE INDEX IF NOT EXISTS orders_by_checkout ON orders (checkout_id, id);

-- How a merchant configured a warehouse to work (hours, capacity, cutoffs, carriers). A
-- warehouse without a row runs the standard settings.
CREATE TABLE IF NOT EXISTS warehouse_fulfillment (
    warehouse_id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    settings_json TEXT NOT NULL);

-- The latest dispatch decision of each paid order (a re-dispatch replaces it): which
-- warehouses ship which units, and why.
CREATE TABLE IF NOT EXISTS order_dispatches (
    order_id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    decided_at BIGINT NOT NULL,
    decision_json TEXT NOT NULL);

-- Orders booked in a warehouse's processing hour (`hour_ms` is the hour's first millisecond).
-- A start-up reads the hours from today on, hence the index by hour.
CREATE TABLE IF NOT EXISTS warehouse_capacity (
    warehouse_id BIGINT NOT NULL,
    hour_ms BIGINT NOT NULL,
    orders BIGINT NOT NULL CHECK (orders >= 0),
    PRIMARY KEY (warehouse_id, hour_ms)) {WITHOUT_ROWID};
CREATE INDEX IF NOT EXISTS warehouse_capacity_by_hour ON warehouse_capacity (hour_ms);

-- A shipment is read whole, by id, order or waybill, and never queried by an event's field:
-- its events are inside `body`, next to the columns it is looked up by.
CREATE TABLE IF NOT EXISTS shipments (
    id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    order_id BIGINT NOT NULL,
    warehouse_id BIGINT NOT NULL,
    carrier TEXT NOT NULL,
    waybill TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS shipments_by_order ON shipments (order_id, id);
CREATE INDEX IF NOT EXISTS shipments_by_waybill ON shipments (waybill, carrier);

CREATE TABLE IF NOT EXISTS package_alerts (
    alert_key TEXT PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    order_id BIGINT NOT NULL,
    shipment_id BIGINT NOT NULL,
    rule TEXT NOT NULL,
    is_open BIGINT NOT NULL,
    raised_at BIGINT NOT NULL,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS package_alerts_by_shop ON package_alerts (shop_id, raised_at);
CREATE INDEX IF NOT EXISTS package_alerts_by_shipment ON package_alerts (shipment_id);

CREATE TABLE IF NOT EXISTS shortage_notices (
    shop_id BIGINT NOT NULL,
    order_id BIGINT NOT NULL,
    warehouse_id BIGINT NOT NULL,
    sku_id BIGINT NOT NULL,
    noticed_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (order_id, warehouse_id, sku_id, noticed_at)) {WITHOUT_ROWID};
CREATE INDEX IF NOT EXISTS shortage_notices_by_shop ON shortage_notices (shop_id, noticed_at);

CREATE TABLE IF NOT EXISTS sla_rules (
    shop_id {ID} PRIMARY KEY,
    body TEXT NOT NULL);
