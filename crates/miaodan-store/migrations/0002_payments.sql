-- Version 2: payments. An order records the intent that paid it; payment intents, refunds,
-- one-tap agreements and the log of provider notifications.

ALTER TABLE orders ADD COLUMN paid_by_intent_id BIGINT;
-- Opening a checkout's payment reads its orders; checkout ids grow, so this index appends.
CREATE INDEX IF NOT EXISTS orders_by_checkout ON orders (checkout_id, id);

-- One intent per checkout. `orders` is `order:shop:amount:settlement` entries separated by
-- semicolons (a checkout has a few shops), read and written with its intent. `settled` is 0
-- while money may still move by itself (an unknown outcome, an order to settle, a refund to
-- confirm).
CREATE TABLE IF NOT EXISTS payment_intents (
    id {ID} PRIMARY KEY,
    checkout_id BIGINT NOT NULL,
    buyer_id BIGINT NOT NULL,
    home_shop_id BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen >= 0),
    orders TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    one_tap BIGINT NOT NULL,
    charge_reference TEXT,
    provider_charge_id TEXT,
    authorized_fen BIGINT,
    captured_fen BIGINT CHECK (captured_fen <= authorized_fen AND authorized_fen <= amount_fen),
    authorized_at BIGINT,
    captured_at BIGINT,
    decline_code TEXT,
    settled BIGINT NOT NULL,
    pay_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS payment_intents_by_checkout ON payment_intents (checkout_id);
CREATE INDEX IF NOT EXISTS payment_intents_unsettled ON payment_intents (home_shop_id) WHERE settled = 0;
CREATE INDEX IF NOT EXISTS payment_intents_by_capture ON payment_intents (captured_at) WHERE captured_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS refunds (
    id {ID} PRIMARY KEY,
    intent_id BIGINT NOT NULL,
    order_id BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    provider_refund_id TEXT,
    failure TEXT,
    request_ref TEXT,
    created_at BIGINT NOT NULL,
    settled_at BIGINT);
CREATE INDEX IF NOT EXISTS refunds_by_intent ON refunds (intent_id, id);
CREATE INDEX IF NOT EXISTS refunds_by_order ON refunds (order_id, id);

CREATE TABLE IF NOT EXISTS one_tap_agreements (
    id {ID} PRIMARY KEY,
    buyer_id BIGINT NOT NULL,
    provider TEXT NOT NULL,
    credential TEXT NOT NULL,
    per_order_limit_fen BIGINT NOT NULL CHECK (per_order_limit_fen > 0),
    per_day_limit_fen BIGINT NOT NULL CHECK (per_day_limit_fen >= per_order_limit_fen),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT);
CREATE INDEX IF NOT EXISTS one_tap_agreements_by_buyer ON one_tap_agreements (buyer_id, id);

-- Every notification a provider sent, with what it did: nothing is ignored silently.
CREATE TABLE IF NOT EXISTS provider_notifications (
    id {ID} PRIMARY KEY,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    reference TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    outcome TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS provider_notifications_by_event ON provider_notifications (provider, event_id);
