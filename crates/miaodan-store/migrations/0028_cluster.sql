-- Version 28: the processes serving this database, and who owns each shard.
--
-- A shard is written by at most one process at a time: the holder of its lease. Each taking of
-- a lease raises its epoch, and every batch commit checks, in its own transaction, that its
-- writer's epoch is still the lease's (`shard_leases` row locked until the commit), so a
-- former owner that was paused or cut off can never commit after another process took over:
-- fencing by the database, not by timing. `expires_at_ms` (Unix milliseconds) is when another
-- process may take the lease unless its holder renews it; 0 is a lease given back.
CREATE TABLE IF NOT EXISTS shard_leases (
    shard BIGINT PRIMARY KEY,
    owner BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- One row per running process: where it takes requests, and when it last said it is alive.
CREATE TABLE IF NOT EXISTS cluster_members (
    id BIGINT PRIMARY KEY,
    address TEXT NOT NULL,
    role TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL
);
