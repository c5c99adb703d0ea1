-- 0002: per-field provenance for the four fields the jobs race on, the backfill of rows that
-- existed before it, and partial indexes on the live set. Rollback: sql/rollback/0002_field_metadata.sql.
-- Every statement is idempotent: the original migration failed on "column already exists" when re-run.
-- The column names are the original's (status_id_source / status_id_timestamp); databases migrated
-- while this script said status_source / status_timestamp are renamed by 0006.
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS home_score_source    varchar(16);
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS home_score_timestamp bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS away_score_source    varchar(16);
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS away_score_timestamp bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS minute_source        varchar(16);
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS minute_timestamp     bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS status_id_source     varchar(16);
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS status_id_timestamp  bigint;

-- Backfill: a value written by the old system came from an API poll (the minute from its clock);
-- its observation time is unknown, so the row's updated_at (unix ms) stands in for it.
UPDATE ts_matches
SET home_score_source    = COALESCE(home_score_source, 'api'),
    home_score_timestamp = COALESCE(home_score_timestamp, (extract(epoch FROM updated_at) * 1000)::bigint)
WHERE home_score IS NOT NULL AND home_score_source IS NULL;

UPDATE ts_matches
SET away_score_source    = COALESCE(away_score_source, 'api'),
    away_score_timestamp = COALESCE(away_score_timestamp, (extract(epoch FROM updated_at) * 1000)::bigint)
WHERE away_score IS NOT NULL AND away_score_source IS NULL;

UPDATE ts_matches
SET minute_source    = COALESCE(minute_source, 'computed'),
    minute_timestamp = COALESCE(minute_timestamp, (extract(epoch FROM updated_at) * 1000)::bigint)
WHERE minute IS NOT NULL AND minute_source IS NULL;

UPDATE ts_matches
SET status_id_source    = COALESCE(status_id_source, 'api'),
    status_id_timestamp = COALESCE(status_id_timestamp, (extract(epoch FROM updated_at) * 1000)::bigint)
WHERE status_id IS NOT NULL AND status_id_source IS NULL;

CREATE INDEX IF NOT EXISTS ix_ts_matches_live
    ON ts_matches (status_id) WHERE status_id IN (2, 3, 4, 5, 7);
CREATE INDEX IF NOT EXISTS ix_ts_matches_live_null_minute
    ON ts_matches (external_id) WHERE status_id IN (2, 3, 4, 5, 7) AND minute IS NULL;
