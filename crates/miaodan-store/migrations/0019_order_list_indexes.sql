-- Version 19: the console's order list finds a shop's orders in one state, or with one SKU,
-- without walking the shop's newest orders until a page fills (a filter few orders match read
-- all of them: 620 ms on 1 M orders for an unsold SKU).
--
-- The state indexes were partial already (an unpaid order, a paid or shipped one, had an entry);
-- they now carry the list's equalities and order too, so they cost no new entry (the state in
-- the key makes the planner prefer them to the shop's plain walk). Cancelled orders get one of
-- their own; delivered orders, the common end state, are found by walking, densely.
-- A line gets one entry by SKU: the only new entry an order's write pays.

DROP INDEX IF EXISTS orders_open;
CREATE INDEX IF NOT EXISTS orders_open ON orders (shop_id, state, created_at, id) WHERE state = 'pending_payment';
DROP INDEX IF EXISTS orders_fulfilling;
CREATE INDEX IF NOT EXISTS orders_fulfilling ON orders (shop_id, state, created_at, id) WHERE state IN ('paid', 'shipped');
CREATE INDEX IF NOT EXISTS orders_cancelled ON orders (shop_id, state, created_at, id) WHERE state = 'cancelled';
CREATE INDEX IF NOT EXISTS order_lines_by_sku ON order_lines (sku_id, order_id);
