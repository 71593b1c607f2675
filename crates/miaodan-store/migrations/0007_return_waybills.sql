-- Version 7: the return waybills the platform booked for after-sales returns, so a carrier's
-- tracking webhook finds its request by (carrier, waybill) as an outbound parcel's finds its
-- shipment. The parcel itself (events, price) is inside the request's `body`.

CREATE TABLE IF NOT EXISTS after_sales_return_waybills (
    carrier TEXT NOT NULL,
    waybill TEXT NOT NULL,
    request_id BIGINT NOT NULL,
    shop_id BIGINT NOT NULL,
    PRIMARY KEY (carrier, waybill));
