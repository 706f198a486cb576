-- Token events in blocks, as in sqlite/0011_audit_token_blocks.sql.
CREATE TABLE audit_token_blocks (
	id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event    TEXT COLLATE "C" NOT NULL,
	first_at BIGINT NOT NULL,
	last_at  BIGINT NOT NULL,
	events   INTEGER NOT NULL,
	data     BYTEA  NOT NULL
);

CREATE INDEX audit_token_blocks_time ON audit_token_blocks (last_at, id);
CREATE INDEX audit_token_blocks_event ON audit_token_blocks (event, last_at, id);

CREATE TABLE audit_token_users (
	user_id  TEXT COLLATE "C" NOT NULL,
	last_at  BIGINT NOT NULL,
	block_id BIGINT NOT NULL,
	PRIMARY KEY (user_id, last_at, block_id)
);
