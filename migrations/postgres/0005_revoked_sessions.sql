-- revoked_sessions lists session tokens ended before their expiry, as in
-- sqlite/0005_revoked_sessions.sql.
CREATE TABLE revoked_sessions (
	id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);
