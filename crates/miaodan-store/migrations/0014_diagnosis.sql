-- Version 14: diagnosis reports (经营诊断). A shop's category (one of a fixed list, `other` for
-- every shop written before this version), which its report compares it with; and the reports
-- themselves, one per shop and period and kind: the daily job writes a shop's `daily` report of
-- a day at most once, whatever restarts happen, and on-demand reports are kept as written.

ALTER TABLE shops ADD COLUMN category TEXT NOT NULL DEFAULT 'other';

CREATE INDEX IF NOT EXISTS shops_by_category ON shops (category, id);

CREATE TABLE IF NOT EXISTS diagnosis_reports (
    id {ID} PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    first_day BIGINT NOT NULL,
    days BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    report_json TEXT NOT NULL);

CREATE UNIQUE INDEX IF NOT EXISTS diagnosis_reports_daily_once ON diagnosis_reports (shop_id, first_day)
    WHERE kind = 'daily';

CREATE INDEX IF NOT EXISTS diagnosis_reports_by_shop ON diagnosis_reports (shop_id, created_at, id);
