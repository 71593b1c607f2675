-- Version 31: the keys of the tables a distributed PostgreSQL (such as Citus) would spread by a
-- column include that column (`miaodan-store/src/distribution.rs` places every table; a store
-- test holds the schema to the rules): a node can only check uniqueness among its own rows.
--
-- Each key keeps its columns first and gains the distribution column last, so a look-up by the
-- old key alone still walks the key's index. The old keys are unique on their own already, so
-- no row that was allowed before is refused now.
--
-- PostgreSQL widens its keys; SQLite is never spread and keeps them (most are its tables'
-- rowids, which an upsert's target could not name beside another column). An upsert on a
-- widened key names the column with a `{SPREAD_BY column}` mark, which `sql::spelled` fills in
-- for PostgreSQL alone.

-- Two tables gain the shop they belong to: an order's lines, a warehouse's booked hours.
-- (A join, not a subquery per row: an old database holds many lines.)
ALTER TABLE order_lines ADD COLUMN shop_id BIGINT NOT NULL DEFAULT 0;
UPDATE order_lines SET shop_id = o.shop_id FROM orders AS o WHERE o.id = order_lines.order_id;
ALTER TABLE warehouse_capacity ADD COLUMN shop_id BIGINT NOT NULL DEFAULT 0;
UPDATE warehouse_capacity SET shop_id = w.shop_id FROM warehouses AS w WHERE w.id = warehouse_capacity.warehouse_id;
-- Every insert names them; a default would only hide one that did not.
{POSTGRES} ALTER TABLE order_lines ALTER COLUMN shop_id DROP DEFAULT;
{POSTGRES} ALTER TABLE warehouse_capacity ALTER COLUMN shop_id DROP DEFAULT;

{POSTGRES} ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey, ADD PRIMARY KEY (order_id, line_no, shop_id);
{POSTGRES} ALTER TABLE order_dispatches DROP CONSTRAINT order_dispatches_pkey, ADD PRIMARY KEY (order_id, shop_id);
{POSTGRES} ALTER TABLE products DROP CONSTRAINT products_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE skus DROP CONSTRAINT skus_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE warehouses DROP CONSTRAINT warehouses_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE stock DROP CONSTRAINT stock_pkey, ADD PRIMARY KEY (sku_id, warehouse_id, shop_id);
{POSTGRES} ALTER TABLE warehouse_fulfillment DROP CONSTRAINT warehouse_fulfillment_pkey,
    ADD PRIMARY KEY (warehouse_id, shop_id);
{POSTGRES} ALTER TABLE warehouse_capacity DROP CONSTRAINT warehouse_capacity_pkey,
    ADD PRIMARY KEY (warehouse_id, hour_ms, shop_id);
{POSTGRES} ALTER TABLE flash_sales DROP CONSTRAINT flash_sales_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE shipments DROP CONSTRAINT shipments_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE package_alerts DROP CONSTRAINT package_alerts_pkey, ADD PRIMARY KEY (alert_key, shop_id);
{POSTGRES} ALTER TABLE shortage_notices DROP CONSTRAINT shortage_notices_pkey,
    ADD PRIMARY KEY (order_id, warehouse_id, sku_id, noticed_at, shop_id);
{POSTGRES} ALTER TABLE after_sales_requests DROP CONSTRAINT after_sales_requests_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE after_sales_return_waybills DROP CONSTRAINT after_sales_return_waybills_pkey,
    ADD PRIMARY KEY (carrier, waybill, shop_id);
{POSTGRES} ALTER TABLE penalties DROP CONSTRAINT penalties_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE risk_decisions DROP CONSTRAINT risk_decisions_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE diagnosis_reports DROP CONSTRAINT diagnosis_reports_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} DROP INDEX IF EXISTS webhook_deliveries_once;
{POSTGRES} CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_once
    ON webhook_deliveries (endpoint_id, shard, seq, shop_id);
{POSTGRES} ALTER TABLE payment_intents DROP CONSTRAINT payment_intents_pkey, ADD PRIMARY KEY (id, checkout_id);
{POSTGRES} ALTER TABLE refunds DROP CONSTRAINT refunds_pkey, ADD PRIMARY KEY (id, intent_id);
{POSTGRES} ALTER TABLE provider_notifications DROP CONSTRAINT provider_notifications_pkey,
    ADD PRIMARY KEY (id, event_id);
{POSTGRES} ALTER TABLE one_tap_agreements DROP CONSTRAINT one_tap_agreements_pkey, ADD PRIMARY KEY (id, buyer_id);
{POSTGRES} ALTER TABLE risk_challenges DROP CONSTRAINT risk_challenges_pkey, ADD PRIMARY KEY (id, buyer_id);
