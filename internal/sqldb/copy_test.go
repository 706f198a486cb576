package sqldb_test

import (
	"context"
	"fmt"
	"testing"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

func TestWriteRows(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		columns := []string{"id", "name", "session_epoch", "created_at", "updated_at"}
		write := func(ids ...string) error {
			return db.WriteRows(ctx, "users", columns, len(ids),
				func(i int) []any { return []any{ids[i], "name " + ids[i], int64(i), int64(0), int64(0)} })
		}
		count := func() (n int) {
			t.Helper()
			if err := db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		var ids []string
		for i := range 250 {
			ids = append(ids, fmt.Sprintf("u%03d", i))
		}
		if err := write(ids...); err != nil {
			t.Fatalf("WriteRows(250 rows) = %v", err)
		}
		if err := write(); err != nil {
			t.Errorf("WriteRows(no rows) = %v", err)
		}
		var name string
		var epoch int64
		err := db.Reader.QueryRowContext(ctx, `SELECT name, session_epoch FROM users WHERE id = $1`, "u249").Scan(&name, &epoch)
		if err != nil || name != "name u249" || epoch != 249 {
			t.Errorf("row u249 = %q, %d, %v; want %q, 249", name, epoch, err, "name u249")
		}
		// All or none: a batch with one duplicate stores nothing.
		err = write("new1", "u007", "new2")
		if err == nil || !db.IsUniqueViolation(err) {
			t.Errorf("WriteRows(a duplicate) = %v, want a unique violation", err)
		}
		if n := count(); n != 250 {
			t.Errorf("%d users after a failed batch, want 250", n)
		}
		var total int
		if err := db.Reader.QueryRowContext(ctx, `SELECT SUM(n) FROM user_count`).Scan(&total); err != nil || total != 250 {
			t.Errorf("user count = %d, %v, want 250: triggers run for WriteRows too", total, err)
		}
	})
}

// TestSkipLocked: a second transaction selecting rows to change skips the
// one the first holds instead of waiting for it.
func TestSkipLocked(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		ids := []string{"a", "b"}
		err := db.WriteRows(ctx, "users", []string{"id", "name", "session_epoch", "created_at", "updated_at"}, len(ids),
			func(i int) []any { return []any{ids[i], "", int64(0), int64(0), int64(0)} })
		if err != nil {
			t.Fatal(err)
		}
		next := `SELECT id FROM users ORDER BY id LIMIT 1` + db.SkipLocked()
		if d.Name == sqldb.SQLite {
			var id string
			if err := db.Writer.QueryRowContext(ctx, next).Scan(&id); err != nil || id != "a" || db.SkipLocked() != "" {
				t.Errorf("%s = %q, %v; want a, and no clause", next, id, err)
			}
			return
		}
		first, err := db.Writer.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Rollback()
		second, err := db.Writer.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Rollback()
		// Were the row not skipped, the second would fail here rather
		// than wait: the server holds the lock, not this process.
		if _, err := second.ExecContext(ctx, `SET LOCAL lock_timeout = '60s'`); err != nil {
			t.Fatal(err)
		}
		var a, b string
		if err := first.QueryRowContext(ctx, next).Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := second.QueryRowContext(ctx, next).Scan(&b); err != nil || a != "a" || b != "b" {
			t.Errorf("two transactions took rows %q and %q, %v; want a and b", a, b, err)
		}
	})
}

// TestTextRows: the set of strings comes back as it went in, whatever the
// bytes JSON or an array literal would have to escape, in one statement
// that inserts and one that deletes by it.
func TestTextRows(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		vs := []string{"plain", `quote " and \ backslash`, "<&>", "ユーザー", "{a,b}", "NULL", "", " spaced "}
		var args sqldb.Args
		from, err := db.TextRows(&args, vs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer.ExecContext(ctx, `INSERT INTO users (id, name, session_epoch, created_at, updated_at)
			SELECT value, 'n', 0, 0, 0 FROM `+from, args...); err != nil {
			t.Fatalf("insert from TextRows: %v", err)
		}
		rows, err := db.Reader.QueryContext(ctx, `SELECT id FROM users ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]bool{}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got[id] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if !got[v] {
				t.Errorf("%q did not come back (got %v)", v, got)
			}
		}
		if len(got) != len(vs) {
			t.Errorf("%d rows, want %d", len(got), len(vs))
		}
		args = nil
		from, err = db.TextRows(&args, vs[1:3])
		if err != nil {
			t.Fatal(err)
		}
		res, err := db.Writer.ExecContext(ctx, `DELETE FROM users WHERE id IN (SELECT value FROM `+from+`)`, args...)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 2 {
			t.Errorf("deleted %d rows, %v; want 2", n, err)
		}
	})
}
