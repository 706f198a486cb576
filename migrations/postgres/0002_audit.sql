-- The audit trail, as in sqlite/0002_audit.sql: one row per audited action,
-- written in batches by internal/audit. It never holds a token, a password
-- or a secret.
--
-- id is assigned on insert by an identity column; it breaks ties between
-- events of the same microsecond and is the pagination cursor. Replicas
-- writing at once get increasing ids, though not in commit order.
CREATE TABLE audit_events (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	occurred_at BIGINT NOT NULL,
	event       TEXT COLLATE "C" NOT NULL,
	app_id      BIGINT NOT NULL DEFAULT 0,
	user_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
	actor       TEXT   NOT NULL DEFAULT '',
	client_ip   TEXT   NOT NULL DEFAULT '',
	request_id  TEXT   NOT NULL DEFAULT '',
	expire      BIGINT NOT NULL DEFAULT 0,
	nonce       BIGINT,
	reason      TEXT   NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_time ON audit_events (occurred_at, id);
CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at, id);
CREATE INDEX audit_events_event ON audit_events (event, occurred_at, id);
