-- 0005: fencing. Every lease a match grain takes on a match yields the next epoch of that match
-- (match_fences.token, incremented here, so it survives a Redis restart). Every write of
-- ts_matches carries its writer's epoch and is refused when a newer one has been issued.
CREATE TABLE IF NOT EXISTS match_fences
(
    external_id varchar(64) PRIMARY KEY,
    token       bigint      NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS fence_token bigint;
