-- Version 6: a shop's after-sales policy (the no-reason window, exempt goods, who pays a
-- return's shipping, how far the rules approve alone) and whether its rules act or run in
-- shadow. One row per shop that set one; `body` is a versioned storage type of
-- src/after_sales.rs. A shop without a row runs the platform's default.

CREATE TABLE IF NOT EXISTS after_sales_policies (
    shop_id BIGINT PRIMARY KEY,
    body TEXT NOT NULL);
