-- The user index of token blocks, written in runs (see internal/audit/index.go).
-- A row of audit_token_users per user and block cost a B-tree insert on a
-- page of its own for each distinct user of each block: with thousands of
-- users, 6–14 µs of CPU per event on SQLite, growing with the trail, and
-- 130 bytes on PostgreSQL.
-- Now a block is listed in audit_token_unindexed when it is written, in the
-- same transaction, and the writer indexes the users of many blocks at once:
-- one row per user for the blocks of a pass that hold the user's events, a
-- "run". A listing of a user's events reads the runs and, for the blocks
-- not indexed yet (at most a few hundred), those blocks themselves.
--
-- A run is keyed by its newest block, (last_at, block_id) as before, and
-- older holds the IDs of its other blocks, newest first in (last_at, id)
-- order, each with its last_at less than a minute before the run's (varint
-- differences). The rows written before this migration are runs of one
-- block.
ALTER TABLE audit_token_users ADD COLUMN older BLOB NOT NULL DEFAULT x'';

-- Blocks written whose users are not in audit_token_users yet.
CREATE TABLE audit_token_unindexed (
	block_id INTEGER NOT NULL PRIMARY KEY,
	last_at  BIGINT  NOT NULL
);
