-- The audit trail: one row per audited action, written in batches by
-- internal/audit. It never holds a token, a password or a secret.
--
-- id is assigned on insert; it breaks ties between events of the same
-- microsecond and is the pagination cursor. (In SQLite an INTEGER PRIMARY
-- KEY is the rowid; a PostgreSQL port makes it BIGINT GENERATED ALWAYS AS
-- IDENTITY.) occurred_at is Unix microseconds, UTC. app_id and expire are 0,
-- and nonce is NULL, when the event is not about a token; empty text means
-- none.
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
	reason      TEXT    NOT NULL DEFAULT ''
);

-- Listings run newest first, in (occurred_at, id) order, filtered by user,
-- by event or by neither, and optionally by time: each index below serves
-- one filter with the time range and the order, so that a page reads no
-- more rows than it returns. audit_events_time also finds what to prune.
CREATE INDEX audit_events_time ON audit_events (occurred_at, id);
CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at, id);
CREATE INDEX audit_events_event ON audit_events (event, occurred_at, id);
