-- zim_outbox and zim_synced, as in sqlite/0008_zim_outbox.sql. app_id is a
-- BIGINT: ZEGO's AppIDs are uint32, past INTEGER's range.
CREATE TABLE zim_outbox (
	user_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	app_id          BIGINT  NOT NULL,
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

CREATE INDEX zim_outbox_due ON zim_outbox (app_id, next_attempt_at) WHERE parked = FALSE;

CREATE TABLE zim_synced (
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	app_id     BIGINT  NOT NULL,
	registered BOOLEAN NOT NULL,
	synced_at  BIGINT  NOT NULL,
	PRIMARY KEY (user_id, app_id)
);
