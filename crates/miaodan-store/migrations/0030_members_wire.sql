-- Version 30: what members need to ask each other's shards.
--
-- A member sends a shard another member owns the parts of a request outside the request's own
-- shard (`POST /internal/shards/{index}`); the owner decides them only for a caller showing the
-- secret kept here. The first cluster member to ask draws it; every member serving the database
-- reads the same row, so members need no shared configuration beyond the database.
CREATE TABLE IF NOT EXISTS cluster_secret (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL
);
-- Each member's wire shape (a digest of the sources defining what members send each other),
-- shown by `GET /v1/cluster`: members of two shapes (two builds, in a rolling restart) refuse
-- each other's shard requests. Empty for a member of a build before this column.
ALTER TABLE cluster_members ADD COLUMN wire TEXT NOT NULL DEFAULT '';
