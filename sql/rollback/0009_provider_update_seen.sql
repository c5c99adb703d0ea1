-- Rollback of 0009: no provider_update_seen_time / provider_update_seen_ms. Idempotent. Stop the silos of the version
-- that reads them first. A row's provider time is then not placed at a take-over (such replays are superseded as a whole).
ALTER TABLE ts_matches DROP COLUMN IF EXISTS provider_update_seen_ms;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS provider_update_seen_time;
