-- The audit trail's own file, beside the SQLite database (see
-- internal/sqldb's AuditPath). These are the tables the database's
-- migrations 0002 to 0012 built, in their final shape; those migrations'
-- comments say why each is as it is. A database migrated before 0013 had
-- them in its own file: sqldb copies their rows here, into this file's
-- tables, before 0013 drops them there, and trail_moved records that the
-- copy committed.
--
-- They live apart because every commit to a SQLite file makes each other
-- connection to it drop its page cache and its mapping of the file at its
-- next read. The trail commits several times a second under token load, so
-- each read of a user that was not cached walked the B-trees of the
-- registry from the disk again.

CREATE TABLE audit_events (
	id          INTEGER NOT NULL PRIMARY KEY,
	occurred_at BIGINT  NOT NULL,
	event       TEXT    NOT NULL,
	app_id      BIGINT  NOT NULL DEFAULT 0,
	user_id     TEXT    NOT NULL DEFAULT '',
	actor       TEXT    NOT NULL DEFAULT '',
	client_ip   TEXT    NOT NULL DEFAULT '',
	request_id  TEXT    NOT NULL DEFAULT '',
	expire      BIGINT  NOT NULL DEFAULT 0,
	nonce       INTEGER,
	reason      TEXT    NOT NULL DEFAULT '',
	count       BIGINT  NOT NULL DEFAULT 1
);

CREATE INDEX audit_events_time ON audit_events (occurred_at, id);
CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at, id);
CREATE INDEX audit_events_event ON audit_events (event, occurred_at, id);

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

CREATE TABLE audit_token_users (
	user_id  TEXT   NOT NULL,
	last_at  BIGINT NOT NULL,
	block_id BIGINT NOT NULL,
	older    BLOB   NOT NULL DEFAULT x'',
	PRIMARY KEY (user_id, last_at, block_id)
) WITHOUT ROWID;

CREATE TABLE audit_token_unindexed (
	block_id INTEGER NOT NULL PRIMARY KEY,
	last_at  BIGINT  NOT NULL
);

-- One row once the trail of a database migrated before 0013 was copied
-- here (a new database's empty trail too): moved_at is when (Unix
-- seconds), events how many events came (the rows of audit_events and the
-- events of the token blocks), copied the row count and highest key of
-- each table copied, which a copy resumed after a crash compares with the
-- database's tables before dropping them. A file created empty for a
-- database whose trail had moved already (restored without it) gets a row
-- whose copied is 'created empty'. A backup takes a trail without a row
-- for one copied before the move.
CREATE TABLE trail_moved (
	moved_at BIGINT NOT NULL,
	events   BIGINT NOT NULL,
	copied   TEXT   NOT NULL
);
