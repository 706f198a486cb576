-- rtc_grants records which RTC rooms a user holds a token for, per app
-- (internal/zimsync): one row per room, written when a token with room
-- privileges is issued or renewed, keeping the latest expiry. It exists so
-- that disabling or deleting the user can remove them from those rooms:
-- ZEGO leaves a user in a room when their token expires, so only RTC's
-- KickoutUser makes a revocation immediate. It is bounded by its writer:
-- expired rows are pruned, and a user keeps at most the rooms of their most
-- recent tokens (zimsync.MaxRoomsPerUser). Times are Unix microseconds;
-- granted_at is the last issue or renewal, which orders that cap.
CREATE TABLE rtc_grants (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	app_id     INTEGER NOT NULL,
	room_id    TEXT    NOT NULL,
	expires_at BIGINT  NOT NULL,
	granted_at BIGINT  NOT NULL,
	PRIMARY KEY (user_id, app_id, room_id)
);

-- The pruning of expired grants, all users at once.
CREATE INDEX rtc_grants_expiry ON rtc_grants (expires_at);

-- rtc_kickouts is the outbox of KickoutUser calls: one row per app, room
-- and user, moved from rtc_grants in the transaction that disables or
-- deletes the user, so a crash loses nothing. It names no user by foreign
-- key: a deleted user's kick-outs must outlive the user's row. expires_at
-- is the grant's: a row still unsent a day after it is dropped. version
-- counts the revocations of the row, so a send in flight while the user was
-- revoked again does not delete the newer one. claimed_by/claimed_until
-- are the lease of the worker sending the row, as in zim_outbox.
CREATE TABLE rtc_kickouts (
	app_id          INTEGER NOT NULL,
	room_id         TEXT    NOT NULL,
	user_id         TEXT    NOT NULL,
	expires_at      BIGINT  NOT NULL,
	version         BIGINT  NOT NULL,
	enqueued_at     BIGINT  NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT  NOT NULL,
	claimed_by      TEXT    NOT NULL DEFAULT '',
	claimed_until   BIGINT  NOT NULL DEFAULT 0,
	last_code       BIGINT  NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (app_id, room_id, user_id)
);

-- The worker's claim: the due rows of one app, oldest schedule first.
CREATE INDEX rtc_kickouts_due ON rtc_kickouts (app_id, next_attempt_at);

-- The drop of rows whose grant expired long ago.
CREATE INDEX rtc_kickouts_expiry ON rtc_kickouts (expires_at);
