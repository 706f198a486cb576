-- zim_outbox holds the users whose profile ZIM has yet to receive, per app
-- (internal/zimsync). It is written in the same transaction as the change
-- to the user, so a crash loses nothing. A row names a user, not a change:
-- the worker sends the user's current name, avatar and extended data, read
-- from users at send time, so the latest state wins by construction. Each
-- change bumps version; a send whose row's version moved while it was in
-- flight leaves the row to be sent again.
--
-- The key is (user_id, app_id) in that order so that deleting a user finds
-- its rows through the key (ON DELETE CASCADE: ZIM has no delete, there is
-- nothing to send for a deleted user). Times are Unix microseconds.
-- claimed_by/claimed_until are the lease of the worker sending the row; an
-- expired lease (a crashed replica) lets another take it. A parked row
-- failed permanently (last_code says why) and waits for the next change of
-- the user. last_error is a short, secret-free description, bounded by the
-- writer.
CREATE TABLE zim_outbox (
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	app_id          INTEGER NOT NULL,
	version         BIGINT  NOT NULL,
	enqueued_at     BIGINT  NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	unknown_answers INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT  NOT NULL,
	claimed_by      TEXT    NOT NULL DEFAULT '',
	claimed_until   BIGINT  NOT NULL DEFAULT 0,
	parked          BOOLEAN NOT NULL DEFAULT FALSE,
	last_code       BIGINT  NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (user_id, app_id)
);

-- The worker's claim: the due rows of one app, oldest schedule first.
CREATE INDEX zim_outbox_due ON zim_outbox (app_id, next_attempt_at) WHERE parked = FALSE;

-- zim_synced is what is known of a user in ZIM, per app, once a send
-- succeeded: that ZIM has the user (so the next send is a modify, not a
-- register) and when it last took the user's profile. It outlives the
-- outbox row, which is deleted once sent. A user's sync state is derived
-- from both tables: an outbox row means pending (failed when parked),
-- none means synced at synced_at.
CREATE TABLE zim_synced (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	app_id     INTEGER NOT NULL,
	registered BOOLEAN NOT NULL,
	synced_at  BIGINT  NOT NULL,
	PRIMARY KEY (user_id, app_id)
);
