-- Rollback of 0008: no match_state table. Idempotent. The match grains' pending confirmations are lost with it
-- (the rows keep every value); a previous version starts them from the rows.
DROP TABLE IF EXISTS match_state;
