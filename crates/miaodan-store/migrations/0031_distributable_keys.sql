-- Version 31: the keys of the tables a distributed PostgreSQL (such as Citus) would spread by a
-- column include that column (`miaodan-store/src/distribution.rs` places every table; a store
-- test holds the schema to the rules): a node can only check uniqueness among its own rows.
--
-- Each key keeps its columns first and gains the distribution column last, so a look-up by the
-- old key alone still walks the key's index. The old keys are unique on their own already, so
-- no row that was allowed before is refused now.
--
-- PostgreSQL widens the primary key itself. SQLite is never spread and keeps its keys; where a
-- statement upserts on the widened key, SQLite gains a unique index of those columns, which is
-- what its `ON CONFLICT` must name. Not yet here: the tables keyed by SQLite's rowid (`{ID}`)
-- and upserted on it, since SQLite cannot take an index holding the rowid as an upsert's
-- target (`WIDENING_PENDING`).

{POSTGRES} ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE stock DROP CONSTRAINT stock_pkey, ADD PRIMARY KEY (sku_id, warehouse_id, shop_id);
{SQLITE} CREATE UNIQUE INDEX IF NOT EXISTS stock_key ON stock (sku_id, warehouse_id, shop_id);
{POSTGRES} ALTER TABLE package_alerts DROP CONSTRAINT package_alerts_pkey, ADD PRIMARY KEY (alert_key, shop_id);
{SQLITE} CREATE UNIQUE INDEX IF NOT EXISTS package_alerts_key ON package_alerts (alert_key, shop_id);
{POSTGRES} ALTER TABLE shortage_notices DROP CONSTRAINT shortage_notices_pkey, ADD PRIMARY KEY (order_id, warehouse_id, sku_id, noticed_at, shop_id);
{SQLITE} CREATE UNIQUE INDEX IF NOT EXISTS shortage_notices_key ON shortage_notices (order_id, warehouse_id, sku_id, noticed_at, shop_id);
{POSTGRES} ALTER TABLE after_sales_return_waybills DROP CONSTRAINT after_sales_return_waybills_pkey, ADD PRIMARY KEY (carrier, waybill, shop_id);
{SQLITE} CREATE UNIQUE INDEX IF NOT EXISTS after_sales_return_waybills_key ON after_sales_return_waybills (carrier, waybill, shop_id);
{POSTGRES} ALTER TABLE penalties DROP CONSTRAINT penalties_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE risk_decisions DROP CONSTRAINT risk_decisions_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE diagnosis_reports DROP CONSTRAINT diagnosis_reports_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_pkey, ADD PRIMARY KEY (id, shop_id);
{POSTGRES} ALTER TABLE provider_notifications DROP CONSTRAINT provider_notifications_pkey, ADD PRIMARY KEY (id, event_id);
{POSTGRES} ALTER TABLE one_tap_agreements DROP CONSTRAINT one_tap_agreements_pkey, ADD PRIMARY KEY (id, buyer_id);
{POSTGRES} ALTER TABLE risk_challenges DROP CONSTRAINT risk_challenges_pkey, ADD PRIMARY KEY (id, buyer_id);

-- Each event is delivered once per endpoint: that key gains the shop too, on both backends.
DROP INDEX IF EXISTS webhook_deliveries_once;
CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_once ON webhook_deliveries (endpoint_id, shard, seq, shop_id);
