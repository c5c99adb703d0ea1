-- Rollback of 0007: no audit table, no stale_since. Idempotent. The audit's events are lost.
DROP TABLE IF EXISTS match_events;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS stale_since;
