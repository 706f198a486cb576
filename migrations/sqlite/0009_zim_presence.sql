-- zim_sessions is what ZIM's user_action callbacks said of each ZIM session
-- (one per device) of a user, per app: a user is online while any of their
-- rows is. event_at is the event's own time (login, logout or offline time,
-- Unix milliseconds), which orders events: ZIM retries a callback for up to
-- a minute, and an old retried login must not undo a newer logout. So a
-- session that went offline keeps its row, as a tombstone, for ten minutes
-- after seen_at (when authsvc heard it, Unix microseconds) and is then
-- pruned by the next write: the table holds the sessions online plus ten
-- minutes' worth of logouts.
CREATE TABLE zim_sessions (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	app_id     INTEGER NOT NULL,
	session_id TEXT    NOT NULL,
	online     BOOLEAN NOT NULL,
	event_at   BIGINT  NOT NULL,
	seen_at    BIGINT  NOT NULL,
	PRIMARY KEY (user_id, app_id, session_id)
);

CREATE INDEX zim_sessions_offline ON zim_sessions (seen_at) WHERE online = FALSE;
-- And the online sessions by age: one whose logout never came counts as
-- offline, and goes, once it is older than the longest token lifetime.
CREATE INDEX zim_sessions_online ON zim_sessions (seen_at) WHERE online = TRUE;

-- zim_last_seen is the time of the latest ZIM login, logout or
-- disconnection of each user (Unix milliseconds), which outlives the
-- sessions: one row per user.
CREATE TABLE zim_last_seen (
	user_id      TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	last_seen_at BIGINT NOT NULL
);
