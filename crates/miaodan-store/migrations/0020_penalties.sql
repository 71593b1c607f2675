-- Version 20: penalties an operator issues to a shop (with the merchant's appeal and the
-- operator's decision), and each shop's deposit (保证金) ledger.
--
-- A penalty's kind and its parameter are columns (`units` for a flash-sale cap, `until_ms` for
-- a suspension, `amount_fen` for a deduction) so that scheduling a sale reads a shop's biting
-- penalties with one indexed query. `expired` is never stored: it is read from `until_ms`.

CREATE TABLE IF NOT EXISTS penalties (
    id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    units BIGINT,
    until_ms BIGINT,
    amount_fen BIGINT CHECK (amount_fen IS NULL OR amount_fen > 0),
    reason TEXT NOT NULL,
    finding_code TEXT,
    finding_subject BIGINT,
    state TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    appeal_text TEXT,
    appealed_at BIGINT,
    decision_note TEXT,
    decided_by TEXT,
    decided_at BIGINT);
CREATE INDEX IF NOT EXISTS penalties_by_shop ON penalties (shop_id, id);
CREATE INDEX IF NOT EXISTS penalties_by_state ON penalties (state, id);

-- One row per entry, numbered per shop from 1; `balance_fen` is the balance after it. The
-- primary key makes two writers that read the same last entry collide instead of both
-- appending, and the check keeps a balance below zero out of the table whatever the code does.
CREATE TABLE IF NOT EXISTS deposit_entries (
    shop_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    balance_fen BIGINT NOT NULL CHECK (balance_fen >= 0),
    penalty_id BIGINT,
    note TEXT,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (shop_id, seq)) {WITHOUT_ROWID};
