-- 0003: what the service keeps beyond the original schema: penalties apart from the displayed
-- score, observation times of the metadata and raw score arrays (so the database can refuse a
-- stale write of them too), and the grain's write sequence.
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS home_penalty_score   integer;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS away_penalty_score   integer;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS metadata_timestamp   bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS raw_scores_timestamp bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS first_half_kickoff_source  varchar(16);
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS second_half_kickoff_source varchar(16);
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS overtime_kickoff_source    varchar(16);
