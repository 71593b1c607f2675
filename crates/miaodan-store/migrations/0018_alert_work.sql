-- Version 18: people work the package center's alerts (acknowledge, assign, note, resolve).
-- The work is in the alert's body (version 2); the columns below are what the package center
-- is filtered by: the level (severity), the assigned staff member and the acknowledgement.
-- An alert's level is filled in from its body; none was assigned or acknowledged before.

ALTER TABLE package_alerts ADD COLUMN alert_level TEXT NOT NULL DEFAULT 'warning';
ALTER TABLE package_alerts ADD COLUMN assignee_staff_id BIGINT;
ALTER TABLE package_alerts ADD COLUMN acknowledged_at BIGINT;
UPDATE package_alerts SET alert_level = 'timed_out' WHERE body LIKE '%"level":"timed_out"%';
CREATE INDEX IF NOT EXISTS package_alerts_open_by_shop ON package_alerts (shop_id, is_open, raised_at);
