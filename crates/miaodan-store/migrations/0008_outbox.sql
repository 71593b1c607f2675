-- Version 8: the outbox. Every effect a shard commits is also written here, in the same
-- transaction, as an event numbered in its shard's sequence (1, 2, 3, … in commit order);
-- `body` is a small versioned JSON document about the subject (src/outbox.rs). Readers keep
-- their place per shard in `outbox_cursors`, moved in the same transaction as their work.
-- Events older than the server's retention are deleted whatever the cursors say.

CREATE TABLE IF NOT EXISTS outbox_events (
    shard BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    shop_id BIGINT NOT NULL,
    topic TEXT NOT NULL,
    subject BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (shard, seq));

CREATE INDEX IF NOT EXISTS outbox_events_by_shop ON outbox_events (shop_id, shard, seq);

CREATE TABLE IF NOT EXISTS outbox_cursors (
    consumer TEXT NOT NULL,
    shard BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (consumer, shard));
