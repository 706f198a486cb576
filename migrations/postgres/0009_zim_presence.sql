-- zim_sessions and zim_last_seen, as in sqlite/0009_zim_presence.sql.
-- app_id is a BIGINT: ZEGO's AppIDs are uint32, past INTEGER's range.
CREATE TABLE zim_sessions (
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	app_id     BIGINT  NOT NULL,
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

CREATE TABLE zim_last_seen (
	user_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	last_seen_at BIGINT NOT NULL
);
