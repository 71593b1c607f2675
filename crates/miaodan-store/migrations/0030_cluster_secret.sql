-- Version 30: the secret the members of a cluster show each other.
--
-- A member sends a shard another member owns the parts of a request outside the request's own
-- shard (`POST /internal/shards/{index}`); the owner decides them only for a caller showing this
-- secret. The first process to open the database draws it; every process serving the database
-- reads the same row, so members need no shared configuration beyond the database itself.
CREATE TABLE IF NOT EXISTS cluster_secret (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL
);
