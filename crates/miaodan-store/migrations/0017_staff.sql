-- Version 17: the console's staff accounts, their sign-in sessions, and the audit log of what
-- was changed through a session (and of staff and session management made with tokens).
-- A session's secret is stored as its SHA-256 only, like a token's; a password as its argon2id
-- PHC string.

CREATE TABLE IF NOT EXISTS staff_members (
    id {ID} PRIMARY KEY,
    shop_id BIGINT,
    login TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT);

CREATE UNIQUE INDEX IF NOT EXISTS staff_members_login ON staff_members (login);

CREATE INDEX IF NOT EXISTS staff_members_shop ON staff_members (shop_id, id);

CREATE TABLE IF NOT EXISTS staff_sessions (
    id {ID} PRIMARY KEY,
    staff_id BIGINT NOT NULL,
    shop_id BIGINT,
    secret_sha256 TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT);

CREATE UNIQUE INDEX IF NOT EXISTS staff_sessions_secret ON staff_sessions (secret_sha256);

CREATE INDEX IF NOT EXISTS staff_sessions_staff ON staff_sessions (staff_id, id);

CREATE TABLE IF NOT EXISTS audit_log (
    id {ID} PRIMARY KEY,
    shop_id BIGINT,
    staff_id BIGINT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL,
    at_ms BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS audit_log_shop ON audit_log (shop_id, id);
