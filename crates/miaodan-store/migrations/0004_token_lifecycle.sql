-- Version 4: API tokens with a lifecycle. A token expires, remembers when it was last used
-- (written at most once a minute per token, see the server's `tokens` module), may be read-only,
-- and its revocation is numbered so that a running server learns of revocations made by another
-- process (the `miaodan token revoke` command) by reading only the ones after the last it saw.

-- When the token stops working (ms). A row written without it is expired from the start.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
-- `read_write`, or `read_only` (GET requests only).
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read_write';
-- The value of token_revocation_counter the revocation took (NULL while not revoked).
ALTER TABLE api_tokens ADD COLUMN revocation BIGINT;
CREATE INDEX IF NOT EXISTS api_tokens_by_revocation ON api_tokens (revocation) WHERE revocation IS NOT NULL;
-- A shop's or a buyer's tokens, newest first.
CREATE INDEX IF NOT EXISTS api_tokens_by_subject ON api_tokens (role, subject_id, id);

-- One row: the number of the latest revocation. A revocation increments it in its own
-- transaction, so revocations are numbered in commit order on both backends.
CREATE TABLE IF NOT EXISTS token_revocation_counter (value BIGINT NOT NULL);
INSERT INTO token_revocation_counter (value) VALUES (0);

-- Tokens issued before lifetimes existed get their role's default lifetime from the upgrade
-- (30 days; 90 for merchants' integrations): they keep working for that long, then stop, so no
-- token lives forever.
UPDATE api_tokens SET expires_at = {NOW_MS} + CASE role WHEN 'merchant' THEN 7776000000 ELSE 2592000000 END;
