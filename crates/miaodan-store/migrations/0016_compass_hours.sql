-- Version 16: the compass's figures per shop and hour, beside the minutes. The compass reader
-- adds every event's figures to both in the same transaction; an answer by the hour or the
-- Shanghai day sums hours (8 760 rows for a shop's year) instead of minutes (525 600). The
-- minutes a database already holds are summed into their hours here.

CREATE TABLE IF NOT EXISTS compass_hours (
    shop_id BIGINT NOT NULL,
    hour_ms BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    units BIGINT NOT NULL,
    gmv_fen BIGINT NOT NULL,
    paid_orders BIGINT NOT NULL,
    paid_fen BIGINT NOT NULL,
    cancelled_orders BIGINT NOT NULL,
    expired_orders BIGINT NOT NULL,
    refunds BIGINT NOT NULL,
    refunded_fen BIGINT NOT NULL,
    PRIMARY KEY (shop_id, hour_ms));

INSERT INTO compass_hours (shop_id, hour_ms, orders, units, gmv_fen, paid_orders, paid_fen, cancelled_orders,
        expired_orders, refunds, refunded_fen)
    SELECT shop_id, minute_ms - (minute_ms % 3600000), CAST(SUM(orders) AS BIGINT), CAST(SUM(units) AS BIGINT),
        CAST(SUM(gmv_fen) AS BIGINT), CAST(SUM(paid_orders) AS BIGINT), CAST(SUM(paid_fen) AS BIGINT),
        CAST(SUM(cancelled_orders) AS BIGINT), CAST(SUM(expired_orders) AS BIGINT), CAST(SUM(refunds) AS BIGINT),
        CAST(SUM(refunded_fen) AS BIGINT)
    FROM compass_minutes GROUP BY shop_id, minute_ms - (minute_ms % 3600000);
