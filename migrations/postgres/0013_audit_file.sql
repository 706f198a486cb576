-- On SQLite the audit trail moves to a file of its own, so that its
-- commits do not empty the page caches of the registry's readers. A
-- PostgreSQL server has one buffer cache that commits do not empty, and the
-- trail stays in this database. Nothing changes; the number keeps the two
-- dialects' versions the same.
SELECT 1;
