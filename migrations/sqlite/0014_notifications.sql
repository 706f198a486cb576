-- Notifications on SQLite: a row per Notify, written in the notifying
-- transaction, which the server's Listen reads as they commit (see
-- internal/sqldb's notify.go). A write by another process on the file,
-- such as "authsvc user disable" while the server runs, reaches the
-- server's users cache this way. seq never goes back (AUTOINCREMENT), and
-- SQLite commits one writer at a time, so rows commit in the order of seq;
-- at (Unix microseconds) lets Listen delete rows a minute old.
CREATE TABLE notifications (
	seq     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	channel TEXT    NOT NULL,
	payload TEXT    NOT NULL,
	at      BIGINT  NOT NULL
);
