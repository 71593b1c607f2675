-- Version 24: the compass's parcels per shop, hour, warehouse and carrier service, folded from
-- shipment events like `compass_warehouses` (handed over, delivered, delivered after the
-- promise), so that broken promises can give a promise-kept rate per carrier service as well
-- as per warehouse. Counted from this version on: the outbox keeps a week of events, so older
-- parcels stay counted per warehouse only.

CREATE TABLE IF NOT EXISTS compass_carriers (
    shop_id BIGINT NOT NULL,
    hour_ms BIGINT NOT NULL,
    warehouse BIGINT NOT NULL,
    carrier TEXT NOT NULL,
    shipped BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    delivered_late BIGINT NOT NULL,
    PRIMARY KEY (shop_id, hour_ms, warehouse, carrier)) {WITHOUT_ROWID};
