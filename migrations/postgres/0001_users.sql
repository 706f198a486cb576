-- The user registry, as in sqlite/0001_users.sql.
--
-- id is compared and ordered as bytes (COLLATE "C"), which the keyset
-- pagination and prefix range scans of internal/users rely on; a
-- language collation would order 'B' and 'a' differently from SQLite.
-- Times are Unix microseconds, UTC.
CREATE TABLE users (
	id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	name          TEXT    NOT NULL,
	avatar_url    TEXT    NOT NULL DEFAULT '',
	extended_data TEXT    NOT NULL DEFAULT '',
	disabled      BOOLEAN NOT NULL DEFAULT FALSE,
	password_hash TEXT,
	session_epoch BIGINT  NOT NULL,
	created_at    BIGINT  NOT NULL,
	updated_at    BIGINT  NOT NULL
);

-- user_count keeps the number of users, so that counting them does not
-- read the whole table. On SQLite it is one row; here it is spread over 32
-- rows (id 0..31): a single counter row would make every insert by every
-- replica wait for the one before it to commit. The count is SUM(n).
--
-- A trigger never waits for a counter row another transaction holds: it
-- takes the row its transaction ID prefers, or the next one nobody holds
-- (SKIP LOCKED; rows its own transaction holds are never skipped). A
-- transaction that waited for a counter row while holding one, or while
-- holding users rows the other wanted, could deadlock: an import inserts in
-- several statements, and a create of a userID the import reaches later
-- would wait on the import's counter row while the import waits on the
-- create's row. Only with all 32 rows held at once does it wait.
CREATE TABLE user_count (
	id INTEGER NOT NULL PRIMARY KEY CHECK (id >= 0 AND id < 32),
	n  BIGINT  NOT NULL
);
INSERT INTO user_count (id, n) SELECT g, 0 FROM generate_series(0, 31) AS g;

-- Statement-level, so an import of a thousand users updates one counter
-- row once, not a thousand times.
CREATE FUNCTION users_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	slot integer;
BEGIN
	SELECT id INTO slot FROM user_count
	ORDER BY (id + 32 - txid_current() % 32) % 32
	LIMIT 1 FOR UPDATE SKIP LOCKED;
	UPDATE user_count SET n = n + (SELECT COUNT(*) FROM inserted)
	WHERE id = COALESCE(slot, txid_current() % 32);
	RETURN NULL;
END $$;

CREATE FUNCTION users_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	slot integer;
BEGIN
	SELECT id INTO slot FROM user_count
	ORDER BY (id + 32 - txid_current() % 32) % 32
	LIMIT 1 FOR UPDATE SKIP LOCKED;
	UPDATE user_count SET n = n - (SELECT COUNT(*) FROM deleted)
	WHERE id = COALESCE(slot, txid_current() % 32);
	RETURN NULL;
END $$;

CREATE TRIGGER users_count_insert AFTER INSERT ON users
	REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION users_count_insert();

CREATE TRIGGER users_count_delete AFTER DELETE ON users
	REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION users_count_delete();
