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

func TestArgs(t *testing.T) {
	t.Parallel()
	var a Args
	if got := a.Add("x"); got != "$1" {
		t.Errorf("Add() = %q, want $1", got)
	}
	if got := a.List("a", "b", "c"); got != "$2, $3, $4" {
		t.Errorf("List(a, b, c) = %q, want $2, $3, $4", got)
	}
	if got := a.Add(7); got != "$5" {
		t.Errorf("Add() = %q, want $5", got)
	}
	if want := (Args{"x", "a", "b", "c", 7}); !slices.Equal(a, want) {
		t.Errorf("Args = %v, want %v", a, want)
	}
}

// TestArgsBindByNumber runs a query whose placeholders are numbered out of
// the order of their use, which only binding by number gets right.
func TestArgsBindByNumber(t *testing.T) {
	t.Parallel()
	db := mustOpen(t, filepath.Join(t.TempDir(), "a.db"))
	var a Args
	first, second := a.Add("one"), a.Add("two")
	var got string
	err := db.Reader.QueryRowContext(context.Background(), `SELECT `+second+` || `+first+` || `+second, a...).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got != "twoonetwo" {
		t.Errorf("query = %q, want twoonetwo", got)
	}
}

func TestPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpen(t, filepath.Join(t.TempDir(), "p.db"))
	ids := []string{"a", "b", "c", "d", "e"}
	for _, id := range ids {
		if _, err := db.Writer.ExecContext(ctx,
			`INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ($1, $1, 1, 0, 0)`, id); err != nil {
			t.Fatal(err)
		}
	}
	scan := func(row Scanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	}
	tests := []struct {
		after    string
		limit    int
		want     []string
		wantMore bool
	}{
		{"", 2, []string{"a", "b"}, true},
		{"b", 2, []string{"c", "d"}, true},
		{"c", 2, []string{"d", "e"}, false},
		{"", 5, ids, false},
		{"e", 3, nil, false},
	}
	for _, tt := range tests {
		var a Args
		q := `SELECT id FROM users WHERE id > ` + a.Add(tt.after) + ` ORDER BY id`
		got, more, err := Page(ctx, db.Reader, q, a, tt.limit, scan)
		if err != nil {
			t.Fatalf("Page(after %q, limit %d) = %v", tt.after, tt.limit, err)
		}
		if !slices.Equal(got, tt.want) || more != tt.wantMore {
			t.Errorf("Page(after %q, limit %d) = %q, %v, want %q, %v", tt.after, tt.limit, got, more, tt.want, tt.wantMore)
		}
	}
}

func TestInsertRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpen(t, filepath.Join(t.TempDir(), "i.db"))
	tx, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	ids := []string{"x", "y", "z"}
	err = db.InsertRows(ctx, tx, "users", []string{"id", "name", "session_epoch", "created_at", "updated_at"}, len(ids),
		func(i int) []any { return []any{ids[i], "name " + ids[i], i, 0, 0} })
	if err != nil {
		t.Fatalf("InsertRows() = %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Reader.QueryContext(ctx, `SELECT id, name, session_epoch FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, name string
		var epoch int
		if err := rows.Scan(&id, &name, &epoch); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+"|"+name+"|"+string(rune('0'+epoch)))
	}
	if want := []string{"x|name x|0", "y|name y|1", "z|name z|2"}; !slices.Equal(got, want) {
		t.Errorf("rows = %q, want %q", got, want)
	}
}

func TestInsertSQL(t *testing.T) {
	t.Parallel()
	got := insertSQL("t", []string{"a", "b"}, 2)
	if want := "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"; got != want {
		t.Errorf("insertSQL(t, [a b], 2) = %q, want %q", got, want)
	}
}

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

	db := mustOpen(t, path)
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
