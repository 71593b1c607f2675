-- Version 11: outgoing webhooks. A shop's endpoints (what they subscribe to, their signing
-- secret, whether they are enabled and since when they fail), the deliveries the webhooks
-- reader of the outbox makes of each subscribed event (in the same transaction as its cursor
-- moves, once per endpoint and event), and every attempt to deliver one.

CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    url TEXT NOT NULL,
    topics TEXT NOT NULL,
    description TEXT,
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    failing_since_ms BIGINT,
    disabled_at_ms BIGINT,
    disabled_reason TEXT);

CREATE INDEX IF NOT EXISTS webhook_endpoints_by_shop ON webhook_endpoints (shop_id, id);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id {ID} PRIMARY KEY,
    endpoint_id BIGINT NOT NULL,
    shop_id BIGINT NOT NULL,
    shard BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    topic TEXT NOT NULL,
    family TEXT NOT NULL,
    subject BIGINT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    last_latency_ms BIGINT,
    delivered_at_ms BIGINT);

CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_once ON webhook_deliveries (endpoint_id, shard, seq);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at_ms);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_subject ON webhook_deliveries (endpoint_id, family, subject, id);

CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    status BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)) {WITHOUT_ROWID};
