-- SQLite gets a table of notifications, which its Listen reads. PostgreSQL
-- has NOTIFY and LISTEN. Nothing changes; the number keeps the two
-- dialects' versions the same.
SELECT 1;
