-- 0007: (1) match_events, the audit of what the rules decided for a match (read at
-- GET /v1/matches/{id}/history): every applied value change, VAR corrections, blocked kick-off
-- overwrites, status regressions, admin corrections and rejected bad input. Written by the
-- write-behind in the statement that writes the match's row (one multi-row insert per flush, only
-- for rows the database accepted); deleted after Audit__Retention (at least 14 days) by the
-- retention job. (2) ts_matches.stale_since (unix s): set by the watchdog on a live match the
-- provider stopped returning, cleared by the next fresh observation. Idempotent.
-- Rollback: sql/rollback/0007_*.
CREATE TABLE IF NOT EXISTS match_events
(
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id varchar(64) NOT NULL,
    kind        text        NOT NULL,
    field       text,
    old_value   text,
    new_value   text,
    source      text,
    observed_at bigint      NOT NULL,
    reason      text,
    key_name    text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- History reads: one match, newest first.
CREATE INDEX IF NOT EXISTS match_events_match_idx ON match_events (external_id, observed_at DESC, id DESC);
-- Retention: the oldest first.
CREATE INDEX IF NOT EXISTS match_events_recorded_idx ON match_events (recorded_at);

ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS stale_since bigint;
