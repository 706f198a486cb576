-- rtc_grants and rtc_kickouts, as in sqlite/0010_rtc_kickouts.sql. app_id
-- is a BIGINT: ZEGO's AppIDs are uint32, past INTEGER's range. IDs compare
-- by byte (COLLATE "C"), as users.id does.
CREATE TABLE rtc_grants (
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	app_id     BIGINT NOT NULL,
	room_id    TEXT COLLATE "C" NOT NULL,
	expires_at BIGINT NOT NULL,
	granted_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, app_id, room_id)
);

CREATE INDEX rtc_grants_expiry ON rtc_grants (expires_at);

CREATE TABLE rtc_kickouts (
	app_id          BIGINT  NOT NULL,
	room_id         TEXT COLLATE "C" NOT NULL,
	user_id         TEXT COLLATE "C" NOT NULL,
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

CREATE INDEX rtc_kickouts_due ON rtc_kickouts (app_id, next_attempt_at);
CREATE INDEX rtc_kickouts_expiry ON rtc_kickouts (expires_at);
