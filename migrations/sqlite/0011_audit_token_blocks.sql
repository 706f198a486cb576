-- Token events (token.issued, token.renewed) in blocks: the events of one
-- kind from one batch of internal/audit's writer, a second of them at most,
-- encoded together in data (see internal/audit/block.go). A row per token
-- with three index entries cost more CPU than minting the token and about
-- 190 bytes of disk; a block costs one row and a few index entries for up
-- to 1,024 events. Token events written before this migration stay rows of
-- audit_events, which the listing merges with the blocks, until pruned.
--
-- first_at and last_at are the earliest and latest event's time, Unix
-- microseconds. The listing walks blocks by last_at, newest first. id is
-- AUTOINCREMENT: the events' IDs are made of it, and pruning may empty the
-- table, after which a plain rowid would start again at 1 and an old
-- cursor would name a new event.
CREATE TABLE audit_token_blocks (
	id       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	event    TEXT    NOT NULL,
	first_at BIGINT  NOT NULL,
	last_at  BIGINT  NOT NULL,
	events   INTEGER NOT NULL,
	data     BLOB    NOT NULL
);

CREATE INDEX audit_token_blocks_time ON audit_token_blocks (last_at, id);
CREATE INDEX audit_token_blocks_event ON audit_token_blocks (event, last_at, id);

-- One row per user with events in a block, so that a user's events are
-- listed from an index: the user's blocks, newest first. last_at is the
-- block's. Pruning a block deletes its users' rows by their key.
CREATE TABLE audit_token_users (
	user_id  TEXT   NOT NULL,
	last_at  BIGINT NOT NULL,
	block_id BIGINT NOT NULL,
	PRIMARY KEY (user_id, last_at, block_id)
) WITHOUT ROWID;
