package sqldb

// ForShare returns the clause that ends a SELECT of rows whose state the
// statement's write depends on: " FOR SHARE" on PostgreSQL, which waits for
// a transaction updating or deleting a row to end and then reads the row as
// it committed, where a plain read would go by the old version; "" on
// SQLite, whose single writer cannot race with another.
func (db *DB) ForShare() string {
	if db.flavor.dialect == Postgres {
		return " FOR SHARE"
	}
	return ""
}
