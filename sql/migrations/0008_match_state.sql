-- 0008: the match grains' own state table (MatchStateStore): read and written in batches, one round trip for
-- the reads and writes waiting at a moment, instead of the AdoNet provider's statement per grain (orleansstorage
-- keeps the job grains' cursors). grain_id is the grain's id ("match/<external_id>"); version is the ETag.
-- States the previous version kept in orleansstorage are moved here by the silo at its start (MatchStateImport),
-- before any grain runs: run with every silo of the previous version stopped. Idempotent.
-- Rollback: sql/rollback/0008_* (the moved states are lost with it: they hold only what the rows lack).
CREATE TABLE IF NOT EXISTS match_state (
    grain_id    text COLLATE "C" PRIMARY KEY,
    version     integer NOT NULL,
    state       bytea NOT NULL,
    modified_at timestamptz NOT NULL DEFAULT now()
);
