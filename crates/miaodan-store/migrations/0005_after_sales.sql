-- Version 5: after-sales requests. A request is read whole (its lines, the rules' decision
-- with every fired rule and its parameters, and its timeline are inside `body`, a versioned
-- storage type of src/after_sales.rs), next to the columns it is looked up and listed by.

CREATE TABLE IF NOT EXISTS after_sales_requests (
    id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    buyer_id BIGINT NOT NULL,
    order_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    body TEXT NOT NULL);
-- Lists, newest first, per shop and per buyer; an order's requests.
CREATE INDEX IF NOT EXISTS after_sales_by_shop ON after_sales_requests (shop_id, opened_at, id);
CREATE INDEX IF NOT EXISTS after_sales_by_buyer ON after_sales_requests (buyer_id, opened_at, id);
CREATE INDEX IF NOT EXISTS after_sales_by_order ON after_sales_requests (order_id, id);
-- The refunds the worker still has to carry out.
CREATE INDEX IF NOT EXISTS after_sales_refunding ON after_sales_requests (id) WHERE stage = 'refunding';
