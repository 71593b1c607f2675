-- Version 22: risk decides payments and after-sales requests too, not only taps and
-- checkouts. A decision says what it is about (`kind`: tap, checkout, payment, after_sales)
-- and, for a payment or an after-sales request, the id of its intent or request
-- (`subject_id`; a tap's and a checkout's subject is the order whose id the decision has).
-- Every decision's id is still drawn from the order ids, so ids never collide across kinds.
-- Decisions kept before this version are taps (a sale) or checkouts (none).

ALTER TABLE risk_decisions ADD COLUMN kind TEXT NOT NULL DEFAULT 'tap';
UPDATE risk_decisions SET kind = 'checkout' WHERE flash_sale IS NULL;
ALTER TABLE risk_decisions ADD COLUMN subject_id BIGINT;
CREATE INDEX IF NOT EXISTS risk_decisions_by_kind ON risk_decisions (kind, id);
