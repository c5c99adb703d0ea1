-- 0001: the match table as the original system had it (before field metadata).
-- Idempotent: safe to run again on a database that already has it.
CREATE TABLE IF NOT EXISTS ts_matches
(
    external_id            varchar(64)  PRIMARY KEY,
    competition_id         varchar(64),
    home_team_id           varchar(64),
    away_team_id           varchar(64),
    match_time             bigint,
    status_id              smallint,
    home_score             integer,
    away_score             integer,
    home_scores            jsonb,
    away_scores            jsonb,
    minute                 integer,
    minute_text            varchar(16),
    first_half_kickoff_ts  bigint,
    second_half_kickoff_ts bigint,
    overtime_kickoff_ts    bigint,
    provider_update_time   bigint,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
