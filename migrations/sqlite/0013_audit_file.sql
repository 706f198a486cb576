-- The audit trail moves to a file of its own (see
-- sqlite-audit/0001_audit.sql for why). Before this runs, in the same
-- transaction, which holds this file's write lock, sqldb has copied the
-- rows of these tables into that file and committed the copy there, so
-- they are dropped here. Their pages go to the free list, for the registry
-- to reuse; a backup (VACUUM INTO) leaves them out.
DROP TABLE audit_token_unindexed;
DROP TABLE audit_token_users;
DROP TABLE audit_token_blocks;
DROP TABLE audit_events;
