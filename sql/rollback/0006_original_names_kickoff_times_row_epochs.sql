-- Rollback of 0006: the status provenance columns under 0002's former names, no kick-off observation
-- times or confirmation marks, and the epochs back in match_fences (taken from the rows). Idempotent.
DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[['status_id_source', 'status_source'], ['status_id_timestamp', 'status_timestamp']]
    LOOP
        IF EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'ts_matches' AND column_name = pair[1])
           AND NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'ts_matches' AND column_name = pair[2]) THEN
            EXECUTE format('ALTER TABLE ts_matches RENAME COLUMN %I TO %I', pair[1], pair[2]);
        END IF;
    END LOOP;
END $$;

ALTER TABLE ts_matches DROP COLUMN IF EXISTS first_half_kickoff_timestamp;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS second_half_kickoff_timestamp;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS overtime_kickoff_timestamp;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS status_id_confirmed;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS home_score_drop_confirmed;
ALTER TABLE ts_matches DROP COLUMN IF EXISTS away_score_drop_confirmed;

CREATE TABLE IF NOT EXISTS match_fences
(
    external_id varchar(64) PRIMARY KEY,
    token       bigint      NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO match_fences (external_id, token)
SELECT external_id, fence_token FROM ts_matches WHERE fence_token IS NOT NULL
ON CONFLICT (external_id) DO UPDATE SET token = GREATEST(match_fences.token, EXCLUDED.token);
