package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"authsvc/migrations"
)

func TestAuditPath(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"authsvc.db":         "authsvc-audit.db",
		"/data/authsvc.db":   "/data/authsvc-audit.db",
		"a.b.sqlite":         "a.b-audit.sqlite",
		"/data.d/authsvc":    "/data.d/authsvc-audit",
		"authsvc":            "authsvc-audit",
		"dir/with space.db":  "dir/with space-audit.db",
		"/var/lib/x/a.db.db": "/var/lib/x/a.db-audit.db",
	} {
		if got := AuditPath(path); got != want {
			t.Errorf("AuditPath(%q) = %q, want %q", path, got, want)
		}
	}
}

// trailTableNames are the tables that live in the trail's file.
func trailTableNames() []string {
	var names []string
	for _, t := range trailTables {
		names = append(names, t.name)
	}
	return names
}

// tablesOf returns which of names q's main schema has.
func tablesOf(t *testing.T, q *sql.DB, names ...string) []string {
	t.Helper()
	var have []string
	for _, name := range names {
		var n int
		if err := q.QueryRow(sqliteFlavor.hasTable, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			have = append(have, name)
		}
	}
	return have
}

// TestAuditFile: a new database keeps its trail in a file of its own, mode
// 0600, and none of the trail's tables in its own file.
func TestAuditFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authsvc.db")
	db := mustOpen(t, path)
	a := db.Audit()
	if a == db {
		t.Fatal("Audit() is the database itself on SQLite")
	}
	if got := tablesOf(t, db.Reader, trailTableNames()...); len(got) > 0 {
		t.Errorf("the database's file has the trail's tables %q", got)
	}
	if got := tablesOf(t, a.Reader, trailTableNames()...); !slices.Equal(got, trailTableNames()) {
		t.Errorf("the trail's file has tables %q, want %q", got, trailTableNames())
	}
	if _, err := a.Writer.Exec(`INSERT INTO audit_events (occurred_at, event) VALUES (1, 'user.created')`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{AuditPath(path), AuditPath(path) + "-wal", AuditPath(path) + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(name), err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(name), m)
		}
	}
	if db.TrailCreated() || db.TrailMoved() {
		t.Errorf("on a new database TrailCreated() = %v, TrailMoved() = %v", db.TrailCreated(), db.TrailMoved())
	}
	if abs, _ := filepath.Abs(AuditPath(path)); db.AuditFile() != abs {
		t.Errorf("AuditFile() = %q, want %q", db.AuditFile(), abs)
	}
}

// oldTrail makes a database at schema version 12, whose trail is in the
// database's file, with rows in each of the trail's tables; the blocks' AUTOINCREMENT
// counter is past the highest ID left, as after pruning. It returns the
// rows as dump shows them.
func oldTrail(t *testing.T, path string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	old, err := open(ctx, path, migrationsUpTo(t, 12), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if old.Audit() != old {
		t.Fatal("a schema before 0013 has a trail file")
	}
	for _, q := range []string{
		`INSERT INTO audit_events (occurred_at, event, user_id, reason, count, nonce) VALUES (1, 'session.failed', 'alice', 'wrong password', 3, NULL)`,
		`INSERT INTO audit_events (occurred_at, event, app_id, user_id, expire, nonce) VALUES (2, 'token.issued', 7, 'bob', 99, -5)`,
		`INSERT INTO audit_token_blocks (id, event, first_at, last_at, events, data) VALUES (3, 'token.issued', 10, 20, 2, x'0102')`,
		`INSERT INTO audit_token_blocks (id, event, first_at, last_at, events, data) VALUES (9, 'token.issued', 30, 40, 5, x'0304')`,
		`DELETE FROM audit_token_blocks WHERE id = 9`,
		`INSERT INTO audit_token_users (user_id, last_at, block_id, older) VALUES ('bob', 20, 3, x'02')`,
		`INSERT INTO audit_token_unindexed (block_id, last_at) VALUES (3, 20)`,
	} {
		if _, err := old.Writer.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return dump(t, old.Reader)
}

// dump returns every row of the trail's tables in q, as text, and the
// blocks' AUTOINCREMENT counter.
func dump(t *testing.T, q *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tt := range trailTables {
		cols := strings.Split(tt.columns, ", ")
		for i, c := range cols {
			cols[i] = "quote(" + c + ")"
		}
		rows, err := q.Query(`SELECT ` + strings.Join(cols, " || ',' || ") + ` FROM ` + tt.name + ` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[tt.name] = append(out[tt.name], s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	var seq int64
	if err := q.QueryRow(`SELECT seq FROM sqlite_sequence WHERE name = 'audit_token_blocks'`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	out["sqlite_sequence"] = []string{fmt.Sprint(seq)}
	return out
}

// movedRows returns trail_moved's rows.
func movedRows(t *testing.T, trail *DB) []string {
	t.Helper()
	rows, err := trail.Reader.Query(`SELECT events FROM trail_moved`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	return got
}

// checkMoved checks that db's trail is want, in the trail's file only,
// recorded as moved once.
func checkMoved(t *testing.T, db *DB, want map[string][]string) {
	t.Helper()
	if got := dump(t, db.Audit().Reader); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the trail's file holds\n%v\nwant\n%v", got, want)
	}
	if got := tablesOf(t, db.Reader, trailTableNames()...); len(got) > 0 {
		t.Errorf("the database's file still has %q", got)
	}
	// 2 rows of audit_events and 2 events of the block left.
	if got := movedRows(t, db.Audit()); !slices.Equal(got, []string{"4"}) {
		t.Errorf("trail_moved = %q, want one row of 4 events", got)
	}
}

// TestMoveTrail: opening a database of schema 12 moves its trail, every row
// and column as it was, to the trail's file, and drops it from its own; new
// blocks continue past the old counter; opening again moves nothing twice.
func TestMoveTrail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authsvc.db")
	want := oldTrail(t, path)
	// A backup before the upgrade is one file, as the database is.
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(context.Background(), path, backup, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(AuditPath(backup)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a backup of schema 12 has a trail file: %v", err)
	}
	db := mustOpen(t, path)
	if from, to := db.Migrated(); from != 12 || to != knownVersions(t) {
		t.Errorf("Migrated() = %d, %d", from, to)
	}
	checkMoved(t, db, want)
	if db.TrailCreated() || !db.TrailMoved() {
		t.Errorf("after a move TrailCreated() = %v, TrailMoved() = %v", db.TrailCreated(), db.TrailMoved())
	}
	var id int64
	err := db.Audit().Writer.QueryRow(`INSERT INTO audit_token_blocks (event, first_at, last_at, events, data)
		VALUES ('token.issued', 50, 60, 1, x'00') RETURNING id`).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	if id != 10 {
		t.Errorf("a new block's ID = %d, want 10, past the pruned 9", id)
	}
	db.Close()

	db = mustOpen(t, path)
	if got := movedRows(t, db.Audit()); len(got) != 1 {
		t.Errorf("trail_moved after reopening = %q", got)
	}
	if got := len(dump(t, db.Audit().Reader)["audit_token_blocks"]); got != 2 {
		t.Errorf("after reopening, %d blocks, want 2", got)
	}
}

// TestMoveTrailResumes: a move whose copy committed in the trail's file but
// whose drop did not commit in the database's (a crash between the two)
// is finished by the next Open, which copies nothing twice.
func TestMoveTrailResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authsvc.db")
	want := oldTrail(t, path)

	trailMs, err := loadMigrations(migrations.SQLiteAudit())
	if err != nil {
		t.Fatal(err)
	}
	trail, err := openFile(ctx, AuditPath(path), trailMs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	if err := moveTrail(ctx, trail, abs); err != nil {
		t.Fatal(err)
	}
	trail.Close()

	db := mustOpen(t, path)
	checkMoved(t, db, want)
}

// TestMoveTrailRefusesAnotherTrail: a trail file that holds what it did not
// get from this database (another database's trail, or events with no
// record of a move) is not merged into; the database keeps its trail and
// its version, and opens once that file is moved away.
func TestMoveTrailRefusesAnotherTrail(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, forget, want string
	}{
		{"moved", "", "a trail moved from another database"},
		{"never moved", `DELETE FROM trail_moved`, "not moved there"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "authsvc.db")
			want := oldTrail(t, path)
			other := mustOpen(t, filepath.Join(dir, "other.db"))
			for _, q := range []string{`INSERT INTO audit_events (occurred_at, event) VALUES (5, 'user.created')`, tt.forget} {
				if _, err := other.Audit().Writer.Exec(q); q != "" && err != nil {
					t.Fatal(err)
				}
			}
			other.Close()
			if err := os.Rename(AuditPath(other.path), AuditPath(path)); err != nil {
				t.Fatal(err)
			}

			_, err := Open(ctx, path)
			if err == nil || !strings.Contains(err.Error(), AuditPath(path)) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open with another trail's file = %v, want an error naming it, %q", err, tt.want)
			}
			old, err := open(ctx, path, migrationsUpTo(t, 12), Options{NoMigrate: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(t, old.Reader); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after the refusal the database holds\n%v\nwant\n%v", got, want)
			}
			old.Close()

			if err := os.Rename(AuditPath(path), filepath.Join(dir, "elsewhere.db")); err != nil {
				t.Fatal(err)
			}
			for _, suffix := range []string{"-wal", "-shm"} {
				os.Remove(AuditPath(path) + suffix)
			}
			checkMoved(t, mustOpen(t, path), want)
		})
	}
}

// TestTrailCreated: a database whose trail had moved, opened without the
// trail's file, gets an empty one and says so.
func TestTrailCreated(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authsvc.db")
	mustOpen(t, path).Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(AuditPath(path) + suffix)
	}
	db := mustOpen(t, path)
	if !db.TrailCreated() {
		t.Error("TrailCreated() = false without the trail's file")
	}
	if got := tablesOf(t, db.Audit().Reader, trailTableNames()...); !slices.Equal(got, trailTableNames()) {
		t.Errorf("the new trail file has tables %q", got)
	}
	// It is this database's trail now: backups take it.
	if _, err := Backup(context.Background(), path, filepath.Join(t.TempDir(), "b.db"), false); err != nil {
		t.Errorf("Backup after the trail was created again = %v", err)
	}
	db.Close()
	if db := mustOpen(t, path); db.TrailCreated() {
		t.Error("TrailCreated() again on the next open")
	}
}
