-- Version 21: risk's rules as versioned data, the flash sales their merchants put in strict
-- mode, and the decisions kept for people to look at.
--
-- A rule set is written once per version and never changed; the newest is the one in force
-- (`version` 1, the rules miaodan ships with, is compiled in and never stored). A sale is in
-- strict mode while it has a row. A decision is keyed by its tap's order id (allocated by the
-- shell, never reused: the id counter starts past the largest id here too), and names its
-- flash sale (NULL for a checkout's part); `fired` is the rules that fired, as JSON (code,
-- signal, value, threshold, points, shadow).

CREATE TABLE IF NOT EXISTS risk_rule_sets (
    version BIGINT PRIMARY KEY,
    document TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS risk_strict_sales (
    shop_id BIGINT NOT NULL,
    flash_sale BIGINT NOT NULL,
    set_at_ms BIGINT NOT NULL,
    PRIMARY KEY (shop_id, flash_sale));

CREATE TABLE IF NOT EXISTS risk_decisions (
    id BIGINT PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    flash_sale BIGINT,
    buyer_id BIGINT NOT NULL,
    ordered BIGINT NOT NULL,
    enforced BIGINT NOT NULL,
    strict BIGINT NOT NULL,
    verdict TEXT NOT NULL,
    shadow_verdict TEXT NOT NULL,
    score BIGINT NOT NULL,
    rule_set_version BIGINT NOT NULL,
    fired TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    review TEXT NOT NULL,
    reviewed_at_ms BIGINT,
    review_note TEXT);

CREATE INDEX IF NOT EXISTS risk_decisions_by_sale ON risk_decisions (shop_id, flash_sale, id);
CREATE INDEX IF NOT EXISTS risk_decisions_by_review ON risk_decisions (review, id);
CREATE INDEX IF NOT EXISTS risk_decisions_by_buyer ON risk_decisions (buyer_id, id);
