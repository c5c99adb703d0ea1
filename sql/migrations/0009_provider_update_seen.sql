-- 0009: when the row's provider time was first observed: ts_matches.provider_update_seen_ms (unix ms), the earliest
-- observation of provider_update_seen_time (unix s) that the writing activation knew. A match activation that starts
-- from the row (a take-over, an activation without a lease) places the row's provider time with it, so that an update
-- another activation answered Applied, decided again there and older by provider time, is superseded as a whole only
-- when it was observed after that snapshot (a lagging answer), not merely because the row's time could not be placed.
-- The pair counts only while provider_update_seen_time equals provider_update_time: a silo of the previous version,
-- which moves the provider time without them, leaves a pair that no longer counts. NULL: not known (then such a
-- replay is superseded as before). Idempotent. Rollback: sql/rollback/0009_* (stop the silos of this version first:
-- they read the columns).
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS provider_update_seen_time bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS provider_update_seen_ms bigint;
