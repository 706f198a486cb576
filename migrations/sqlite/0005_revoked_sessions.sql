-- revoked_sessions lists session tokens ended before their expiry by
-- DELETE /v1/sessions/current: id is the token's jti, expires_at its exp in
-- Unix seconds. A row is useless once its token has expired, so revoking
-- prunes those rows, and the table holds at most one session lifetime's
-- worth of logouts.
CREATE TABLE revoked_sessions (
	id         TEXT   NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_sessions_expiry ON revoked_sessions (expires_at);
