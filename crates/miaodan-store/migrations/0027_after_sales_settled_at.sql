-- Version 27: when an after-sales request settled (closed, refunded with nothing left to
-- inspect, or exchanged), in Unix milliseconds; NULL while it is still moving. A shard keeps a
-- settled request in memory for a while after it settled, and a starting shard reads back the
-- ones settled within that while: a request opened on a reading of the order taken before a
-- shard rebuilt must still find the units an evicted-at-restart refund took.
-- Requests settled before this version keep NULL: they are read back by no start, which is
-- right for a process that restarts (no reading outlives it) and loses nothing older.

ALTER TABLE after_sales_requests ADD COLUMN settled_at_ms BIGINT;
