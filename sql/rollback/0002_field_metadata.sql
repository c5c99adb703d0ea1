-- Rollback of 0002: removes the provenance columns and the live-set indexes. Idempotent.
-- The migrator also removes 0002 from its journal so that a later migrate applies it again.
DROP INDEX IF EXISTS ix_ts_matches_live_null_minute;
DROP INDEX IF EXISTS ix_ts_matches_live;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS status_id_timestamp;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS status_id_source;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS minute_timestamp;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS minute_source;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS away_score_timestamp;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS away_score_source;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS home_score_timestamp;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS home_score_source;
