package sqldb

// SkipLocked returns the clause that ends a SELECT of rows a statement is
// about to change, so that processes running it at once take disjoint rows
// rather than waiting on each other's row locks (and, locking the same rows
// in different orders, deadlocking): " FOR UPDATE SKIP LOCKED" on
// PostgreSQL. SQLite has no row locks, and needs none: its writers take the
// whole file in turn, so it returns "".
//
// A statement using it may change fewer rows than its LIMIT while others
// hold some: a loop that stops at a short batch stops early, harmlessly,
// since the holders go on.
func (db *DB) SkipLocked() string {
	if db.flavor.dialect == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// ForKeyShare returns the clause that ends a SELECT of rows that a foreign
// key written in the same transaction will reference: " FOR KEY SHARE" on
// PostgreSQL, which waits for a concurrent DELETE of a row and then skips
// it, where the foreign key check would fail the transaction; "" on SQLite,
// whose single writer cannot race with a DELETE.
func (db *DB) ForKeyShare() string {
	if db.flavor.dialect == Postgres {
		return " FOR KEY SHARE"
	}
	return ""
}

// ForNoKeyUpdate returns the clause that ends a SELECT of a row the
// transaction will not change the key of but must hold against other
// writers of it: " FOR NO KEY UPDATE" on PostgreSQL, which, unlike FOR
// UPDATE, does not block inserts elsewhere whose foreign keys reference
// the row; "" on SQLite.
func (db *DB) ForNoKeyUpdate() string {
	if db.flavor.dialect == Postgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}
