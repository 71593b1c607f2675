-- Version 29: ids handed out in blocks reserved here, one row per kind of id.
--
-- A process reserves a block of ids (`next_free` raised by the block's size in one statement)
-- and hands them out from memory. Two processes on one database (`miaodan serve --cluster`)
-- therefore never hand out the same id, whoever owns which shard, and a process that died
-- leaves a gap, never a reuse. A process raises each row above the highest id stored when it
-- starts (rows written by a build before this table, or imported), so the row is created then.
CREATE TABLE IF NOT EXISTS id_blocks (
    kind TEXT PRIMARY KEY,
    next_free BIGINT NOT NULL
);
