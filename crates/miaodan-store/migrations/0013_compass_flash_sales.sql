-- Version 13: the compass's figures per flash sale, folded from the outbox by the compass reader
-- in the same transaction as its cursor moves (like compass_minutes). Taps come from the
-- shard's counted `flash_sale.tapped` events, orders and payments from the orders' events.

-- Per sale and minute: taps and how they were answered; orders placed, their units and value;
-- orders paid and their value; unpaid orders cancelled or expired.
CREATE TABLE IF NOT EXISTS compass_flash_sale_minutes (
    shop_id BIGINT NOT NULL,
    flash_sale BIGINT NOT NULL,
    minute_ms BIGINT NOT NULL,
    taps BIGINT NOT NULL,
    ordered BIGINT NOT NULL,
    sold_out BIGINT NOT NULL,
    limit_reached BIGINT NOT NULL,
    refused_other BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    units BIGINT NOT NULL,
    gmv_fen BIGINT NOT NULL,
    paid_orders BIGINT NOT NULL,
    paid_fen BIGINT NOT NULL,
    unpaid_closed BIGINT NOT NULL,
    PRIMARY KEY (shop_id, flash_sale, minute_ms)) {WITHOUT_ROWID};

-- Per sale and the province its orders ship to (the adcode of the province-level division).
CREATE TABLE IF NOT EXISTS compass_flash_sale_provinces (
    shop_id BIGINT NOT NULL,
    flash_sale BIGINT NOT NULL,
    province_adcode BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    units BIGINT NOT NULL,
    gmv_fen BIGINT NOT NULL,
    PRIMARY KEY (shop_id, flash_sale, province_adcode)) {WITHOUT_ROWID};

-- When a sale first had no units left (its first `flash_sale.saved` event with none remaining).
CREATE TABLE IF NOT EXISTS compass_flash_sales (
    shop_id BIGINT NOT NULL,
    flash_sale BIGINT NOT NULL,
    sold_out_at_ms BIGINT NOT NULL,
    PRIMARY KEY (shop_id, flash_sale)) {WITHOUT_ROWID};
