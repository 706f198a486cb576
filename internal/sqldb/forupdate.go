package sqldb

// ForUpdate returns the locking clause that a SELECT inside a write
// transaction appends to lock the rows it reads until the commit: " FOR
// UPDATE" on PostgreSQL, where transactions run at READ COMMITTED and
// another one may change a row between this one's read and its write, and
// "" on SQLite, which rejects the clause and needs none: its transactions
// on Writer begin IMMEDIATE, holding the whole file's write lock.
func (db *DB) ForUpdate() string {
	if db.flavor.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}
