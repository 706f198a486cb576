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
