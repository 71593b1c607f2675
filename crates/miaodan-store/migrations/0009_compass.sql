-- Version 9: the compass's figures per shop and minute, folded from the outbox by the compass
-- reader (its cursor is in outbox_cursors, moved in the same transaction as these rows). A
-- query over any range and granularity sums minutes; it never reads the orders tables.

CREATE TABLE IF NOT EXISTS compass_minutes (
    shop_id BIGINT NOT NULL,
    minute_ms BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    units BIGINT NOT NULL,
    gmv_fen BIGINT NOT NULL,
    paid_orders BIGINT NOT NULL,
    paid_fen BIGINT NOT NULL,
    cancelled_orders BIGINT NOT NULL,
    expired_orders BIGINT NOT NULL,
    refunds BIGINT NOT NULL,
    refunded_fen BIGINT NOT NULL,
    PRIMARY KEY (shop_id, minute_ms));
