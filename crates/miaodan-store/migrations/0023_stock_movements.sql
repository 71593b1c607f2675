-- Version 23: the stock ledger, every change a merchant made to the units available of a SKU
-- in a warehouse (a count through `PUT /v1/skus/{id}/stock/{warehouse}`), written in the same
-- transaction as the stock row it changed. Sales, reservations, dispatch and returns move
-- units for the platform's own reasons and are never written here, so a flash sale's taps
-- never touch this table. `delta` is signed units (added > 0, removed < 0), `available_after`
-- the row's available units after it, `cause` why (`merchant_set`).
--
-- Read as "this SKU's movements between t0 and t1" (fake stock: units added just before a
-- sale and removed just after it), hence the index on the SKU and the time. Lines are only
-- ever appended and read by that index, never looked up one by one, so the table has no key
-- (two counts of one row in one millisecond are two lines). Version 22 belongs to another
-- capability.

CREATE TABLE IF NOT EXISTS stock_movements (
    shop_id BIGINT NOT NULL,
    sku_id BIGINT NOT NULL,
    warehouse_id BIGINT NOT NULL,
    delta BIGINT NOT NULL CHECK (delta <> 0),
    available_after BIGINT NOT NULL CHECK (available_after >= 0),
    at_ms BIGINT NOT NULL,
    cause TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS stock_movements_by_sku ON stock_movements (sku_id, at_ms);
