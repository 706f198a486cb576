-- The user index in runs, as in sqlite/0012_audit_token_runs.sql.
ALTER TABLE audit_token_users ADD COLUMN older BYTEA NOT NULL DEFAULT ''::bytea;

CREATE TABLE audit_token_unindexed (
	block_id BIGINT NOT NULL PRIMARY KEY,
	last_at  BIGINT NOT NULL
);
