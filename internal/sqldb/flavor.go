package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// flavor is what differs between the SQL dialects authsvc runs on. The SQL
// text itself is written once, with $N placeholders, which every driver we
// use binds by number; only what no common SQL covers lives here. Each
// dialect is a value of this type, chosen by Open.
type flavor struct {
	dialect Dialect

	// uniqueViolation reports whether err broke a PRIMARY KEY or UNIQUE
	// constraint, by the driver's error code, never by its message.
	uniqueViolation func(err error) bool

	// lockMigrations keeps other processes from migrating the database
	// while conn does, until unlock. Processes started together race to
	// migrate; each step must still see whether it is pending.
	lockMigrations func(ctx context.Context, conn *sql.Conn) (unlock func() error, err error)

	// hasTable is a query taking one argument, a table name, that returns
	// one row with 1 when the table exists and 0 when not.
	hasTable string

	// rowsPerInsert is how many rows one INSERT of a batch writes.
	rowsPerInsert int

	// noIndex returns column as written in a WHERE term that must not
	// choose an index on it: a hint for planners that need one.
	noIndex func(column string) string
}

// sqliteFlavor is the flavor of modernc.org/sqlite.
var sqliteFlavor = flavor{
	dialect: SQLite,
	uniqueViolation: func(err error) bool {
		var se *msqlite.Error
		if !errors.As(err, &se) {
			return false
		}
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return true
		}
		return false
	},
	// Nothing to take: every migration step runs in a transaction on the one
	// writer connection that begins IMMEDIATE, holding the file's write lock
	// against other processes, and re-checks under it whether it is pending.
	lockMigrations: func(context.Context, *sql.Conn) (func() error, error) {
		return func() error { return nil }, nil
	},
	hasTable: `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = $1`,
	// A multi-row INSERT took more CPU per row in audit's BenchmarkWrite:
	// SQLite keeps a statement journal for a statement that may fail
	// partway through its rows. One prepared single-row INSERT per row it is.
	rowsPerInsert: 1,
	// The unary + makes the term an expression, which SQLite, having no
	// statistics, will not look up in an index.
	noIndex: func(column string) string { return "+" + column },
}

// IsUniqueViolation reports whether err comes from an INSERT or UPDATE on
// db that broke a PRIMARY KEY or UNIQUE constraint. It matches the driver's
// error code, never the message.
func (db *DB) IsUniqueViolation(err error) bool { return db.flavor.uniqueViolation(err) }

// NoIndex returns column as a WHERE term should write it to keep the query
// planner from choosing an index on it, where the dialect needs telling:
// "+event" in SQLite, "event" elsewhere.
func (db *DB) NoIndex(column string) string { return db.flavor.noIndex(column) }

// InsertRows inserts n rows into table within tx, as many per statement as
// the dialect does best. row(i) returns the values of row i, one per column,
// in the order of columns. table and columns are SQL text, never input. tx
// must be a transaction of db.Writer: on SQLite that holds the write lock,
// so a statement has nothing to wait for, and ctx is checked between them.
func (db *DB) InsertRows(ctx context.Context, tx *sql.Tx, table string, columns []string, n int, row func(i int) []any) error {
	per := db.flavor.rowsPerInsert
	var st *sql.Stmt // for full statements of per rows, prepared once
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	args := make([]any, 0, per*len(columns))
	exec := ctx
	if db.flavor.dialect == SQLite {
		// SQLite's driver watches a context that can end with a goroutine
		// per statement, which costs more than a one-row INSERT: the
		// loop checks ctx between statements instead. A statement in a
		// transaction that holds the write lock has no lock to wait for.
		exec = context.WithoutCancel(ctx)
	}
	for start := 0; start < n; start += per {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(per, n-start)
		args = args[:0]
		for i := start; i < start+k; i++ {
			args = append(args, row(i)...)
		}
		if k == per && st == nil {
			var err error
			if st, err = tx.PrepareContext(exec, insertSQL(table, columns, per)); err != nil {
				return err
			}
		}
		var err error
		if k == per {
			_, err = st.ExecContext(exec, args...)
		} else {
			_, err = tx.ExecContext(exec, insertSQL(table, columns, k), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// insertSQL is an INSERT of rows rows into table.
func insertSQL(table string, columns []string, rows int) string {
	var b strings.Builder
	var a Args
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES ")
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for c := range columns {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.Add(nil))
		}
		b.WriteString(")")
	}
	return b.String()
}

// TextRows adds vs to args and returns a FROM item that yields them as rows
// of one column, value: a set of strings bound as one argument, so that one
// statement inserts or deletes a row per value where a statement each would
// cost a round of the driver per value. SQLite reads it as a JSON array
// (json_each), PostgreSQL as a text[] (unnest).
func (db *DB) TextRows(args *Args, vs []string) (string, error) {
	if db.flavor.dialect == Postgres {
		return "unnest(" + args.Add(vs) + "::text[]) AS t(value)", nil
	}
	js, err := json.Marshal(vs)
	if err != nil {
		return "", err
	}
	return "json_each(" + args.Add(string(js)) + ")", nil
}
