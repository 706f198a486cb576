package sqldb

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"authsvc/migrations"
)

// migrationsUpTo returns the embedded migrations numbered up to n.
func migrationsUpTo(tb testing.TB, n int) fs.FS {
	tb.Helper()
	all := migrations.SQLite()
	entries, err := fs.ReadDir(all, ".")
	if err != nil {
		tb.Fatal(err)
	}
	m := fstest.MapFS{}
	for _, e := range entries[:n] {
		b, err := fs.ReadFile(all, e.Name())
		if err != nil {
			tb.Fatal(err)
		}
		m[e.Name()] = &fstest.MapFile{Data: b}
	}
	return m
}

// TestMigrationAuditCount upgrades a trail whose tallied rows kept their
// count in the reason, and checks that 0006 moves it to the count column.
// TestMigrationScrubsAttemptedIDs: failed logins recorded before 0007 lose
// a userID that is no registered user's, typed passwords included; rows
// naming a user, a fingerprint, or other events keep theirs.
func TestMigrationScrubsAttemptedIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := open(ctx, path, migrationsUpTo(t, 6), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Writer.ExecContext(ctx, `INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ('alice', 'alice', 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	stored := []struct{ event, userID string }{
		{"session.failed", "alice"},
		{"session.failed", "correct horse battery staple"},
		{"session.failed", "unknown:0123456789abcdef01234567"},
		{"session.failed", ""},
		{"user.deleted", "bob"},
	}
	for i, e := range stored {
		if _, err := old.Writer.ExecContext(ctx,
			`INSERT INTO audit_events (occurred_at, event, user_id) VALUES ($1, $2, $3)`, i, e.event, e.userID); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	db := mustOpen(t, path).Audit() // 0013 moved the rows there
	rows, err := db.Reader.QueryContext(ctx, `SELECT user_id FROM audit_events ORDER BY occurred_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	want := []string{"alice", "", "unknown:0123456789abcdef01234567", "", "bob"}
	if !slices.Equal(got, want) {
		t.Errorf("userIDs after 0007 = %q, want %q", got, want)
	}
}

func TestMigrationAuditCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := open(ctx, path, migrationsUpTo(t, 5), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stored := []string{
		"",                               // recorded once, no reason
		"bad signature",                  // recorded once
		"wrong password;count=12",        // tallied
		";count=3",                       // tallied, no reason
		"odd;count=1",                    // never written (a count of 1 had no mark); left alone
		"odd;count=x",                    // not a count; left alone
		"odd;count=99999999999999999999", // too large for a count; left alone
	}
	for i, r := range stored {
		if _, err := old.Writer.ExecContext(ctx,
			`INSERT INTO audit_events (occurred_at, event, reason) VALUES ($1, 'session.failed', $2)`, i, r); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	db := mustOpen(t, path).Audit() // 0013 moved the rows there
	rows, err := db.Reader.QueryContext(ctx, `SELECT reason, count FROM audit_events ORDER BY occurred_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var reason, count string
		if err := rows.Scan(&reason, &count); err != nil {
			t.Fatal(err)
		}
		got = append(got, reason+" #"+count)
	}
	want := []string{
		" #1", "bad signature #1", "wrong password #12", " #3",
		"odd;count=1 #1", "odd;count=x #1", "odd;count=99999999999999999999 #1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("after 0006:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A row written after the migration without a count counts once.
	if _, err := db.Writer.ExecContext(ctx, `INSERT INTO audit_events (occurred_at, event) VALUES (99, 'token.issued')`); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.Reader.QueryRowContext(ctx, `SELECT count FROM audit_events WHERE occurred_at = 99`).Scan(&n); err != nil || n != 1 {
		t.Errorf("default count = %d, %v, want 1", n, err)
	}
}

// TestMigratedReportsVersions: Migrated says which versions Open went from
// and to, for serve's log line: all of them on a new file, the rest on an
// old one, none on a current one.
func TestMigratedReportsVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := len(mustEntries(t))
	dir := t.TempDir()

	fresh := mustOpen(t, filepath.Join(dir, "new.db"))
	if from, to := fresh.Migrated(); from != 0 || to != n {
		t.Errorf("new database: Migrated() = %d, %d; want 0, %d", from, to, n)
	}

	path := filepath.Join(dir, "old.db")
	old, err := open(ctx, path, migrationsUpTo(t, 3), Options{})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	upgraded := mustOpen(t, path)
	if from, to := upgraded.Migrated(); from != 3 || to != n {
		t.Errorf("database at version 3: Migrated() = %d, %d; want 3, %d", from, to, n)
	}
	upgraded.Close()
	again := mustOpen(t, path)
	if from, to := again.Migrated(); from != n || to != n {
		t.Errorf("current database: Migrated() = %d, %d; want %d, %d", from, to, n, n)
	}
}

func mustEntries(tb testing.TB) []fs.DirEntry {
	tb.Helper()
	entries, err := fs.ReadDir(migrations.SQLite(), ".")
	if err != nil {
		tb.Fatal(err)
	}
	return entries
}
