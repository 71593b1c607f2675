-- Version 15: the outbox in packs. A batch's events of one shop are stored as one row (a pack)
-- holding consecutive numbers of the shard's sequence, `first_seq` to `last_seq`, one event per
-- line: `<topic> <subject> <body>` (the body is compact JSON, which never holds a raw line
-- break). One row per batch and shop instead of one per event keeps the outbox's cost on the
-- write path to one insert per transaction (src/outbox.rs). Events stored by version 8 become
-- packs of one.

CREATE TABLE IF NOT EXISTS outbox_packs (
    shard BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    first_seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    shop_id BIGINT NOT NULL,
    events TEXT NOT NULL,
    PRIMARY KEY (shard, last_seq));

CREATE INDEX IF NOT EXISTS outbox_packs_by_shop ON outbox_packs (shop_id, shard, last_seq);

INSERT INTO outbox_packs (shard, last_seq, first_seq, at_ms, shop_id, events)
    SELECT shard, seq, seq, at_ms, shop_id, topic || ' ' || CAST(subject AS TEXT) || ' ' || body FROM outbox_events;

DROP TABLE outbox_events;
