-- Version 26: the customer-service assistant's conversations. One row per conversation of a
-- buyer with its dialogue state (the pure assistant's JSON, read back on the next message), and
-- one row per message, the buyer's and the assistant's, with what the assistant understood and
-- the action it carried out (JSON, for the merchant and for scoring).
--
-- `state` is `open` or `handed_over`; a handed-over conversation names the shop whose customer
-- service has it (`handed_to_shop`, NULL: the platform's) and what was understood
-- (`handover_summary`). The partial index is the merchant's inbox of handed-over conversations.

CREATE TABLE IF NOT EXISTS assistant_conversations (
    id {ID} PRIMARY KEY,
    buyer_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    dialogue TEXT NOT NULL,
    messages BIGINT NOT NULL,
    handed_to_shop BIGINT,
    handover_summary TEXT,
    handed_over_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS assistant_conversations_by_buyer ON assistant_conversations (buyer_id, id);
CREATE INDEX IF NOT EXISTS assistant_handovers ON assistant_conversations (handed_to_shop, handed_over_at_ms)
    WHERE state = 'handed_over';

CREATE TABLE IF NOT EXISTS assistant_messages (
    conversation_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    understood TEXT,
    action TEXT,
    PRIMARY KEY (conversation_id, seq)) {WITHOUT_ROWID};
