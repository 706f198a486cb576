-- The user registry.
--
-- id is compared and ordered as bytes: SQLite's default BINARY collation,
-- which the keyset pagination and prefix range scans of internal/users rely
-- on. (A PostgreSQL port needs COLLATE "C" on this column.)
-- Times are Unix microseconds, UTC. password_hash is a PHC string
-- ($argon2id$v=19$m=...,t=...,p=...$salt$hash), NULL when the user has no
-- password. session_epoch is random and replaced whenever the password
-- changes or the user is disabled or re-enabled; tokens embed it.
CREATE TABLE users (
	id            TEXT    NOT NULL PRIMARY KEY,
	name          TEXT    NOT NULL,
	avatar_url    TEXT    NOT NULL DEFAULT '',
	extended_data TEXT    NOT NULL DEFAULT '',
	disabled      BOOLEAN NOT NULL DEFAULT FALSE,
	password_hash TEXT,
	session_epoch BIGINT  NOT NULL,
	created_at    BIGINT  NOT NULL,
	updated_at    BIGINT  NOT NULL
);

-- user_count keeps the number of users in one row, so that counting them is
-- O(1): SELECT COUNT(*) reads the whole table in SQLite. The triggers keep
-- it right in the same transaction as every insert and delete, whoever
-- writes.
CREATE TABLE user_count (
	id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	n  BIGINT  NOT NULL
);
INSERT INTO user_count (id, n) VALUES (1, 0);

CREATE TRIGGER users_count_insert AFTER INSERT ON users
BEGIN
	UPDATE user_count SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER users_count_delete AFTER DELETE ON users
BEGIN
	UPDATE user_count SET n = n - 1 WHERE id = 1;
END;
