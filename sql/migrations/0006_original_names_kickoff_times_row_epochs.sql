-- 0006: (1) the original's column names for the status provenance: status_source / status_timestamp
-- (what 0002 used to create) become status_id_source / status_id_timestamp where present;
-- (2) kick-offs keep their own observation time, so the database can tell a newer admin correction
-- from an older one; (3) what the grain marks as confirmed (a status regression, a score drop on a
-- lagging snapshot) is kept with the row, so the upsert's guard can hold the same rules;
-- (4) the fencing epoch lives in the row itself: taking a lease increments ts_matches.fence_token,
-- so the epoch is in the row before the new owner's first write, and the upsert compares a writer's
-- epoch with the row it actually locks and updates (match_fences, read from the statement's snapshot,
-- let a stale writer through). Run with every silo of the previous version stopped: old silos read
-- match_fences and their writes fail (safely) once it is gone. Idempotent. Rollback: sql/rollback/0006_*.
DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[['status_source', 'status_id_source'], ['status_timestamp', 'status_id_timestamp']]
    LOOP
        IF EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'ts_matches' AND column_name = pair[1]) THEN
            IF EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = 'ts_matches' AND column_name = pair[2]) THEN
                EXECUTE format('UPDATE ts_matches SET %I = COALESCE(%I, %I)', pair[2], pair[2], pair[1]);
                EXECUTE format('ALTER TABLE ts_matches DROP COLUMN %I', pair[1]);
            ELSE
                EXECUTE format('ALTER TABLE ts_matches RENAME COLUMN %I TO %I', pair[1], pair[2]);
            END IF;
        END IF;
    END LOOP;
END $$;

ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS first_half_kickoff_timestamp  bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS second_half_kickoff_timestamp bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS overtime_kickoff_timestamp    bigint;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS status_id_confirmed           boolean NOT NULL DEFAULT false;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS home_score_drop_confirmed     boolean NOT NULL DEFAULT false;
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS away_score_drop_confirmed     boolean NOT NULL DEFAULT false;

DO $$
BEGIN
    IF to_regclass('match_fences') IS NOT NULL THEN
        INSERT INTO ts_matches AS t (external_id, fence_token)
        SELECT external_id, token FROM match_fences
        ON CONFLICT (external_id) DO UPDATE SET fence_token = GREATEST(t.fence_token, EXCLUDED.fence_token);
        DROP TABLE match_fences;
    END IF;
END $$;
