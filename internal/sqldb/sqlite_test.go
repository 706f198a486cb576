package sqldb

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"authsvc/migrations"
)

func mustOpen(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open(%q) = %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func knownVersions(tb testing.TB) int {
	tb.Helper()
	ms, err := loadMigrations(migrations.SQLite())
	if err != nil {
		tb.Fatal(err)
	}
	if len(ms) == 0 {
		tb.Fatal("no migrations embedded")
	}
	return len(ms)
}

func TestOpenAppliesMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a b?c#d%41.db") // characters a DSN must escape
	db := mustOpen(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created at the path given: %v", err)
	}
	got, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := knownVersions(t); got != want {
		t.Errorf("SchemaVersion() = %d, want %d", got, want)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping() = %v", err)
	}
	if _, err := db.Writer.ExecContext(ctx, `INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ('x', 'x', 1, 0, 0)`); err != nil {
		t.Fatalf("insert into migrated schema: %v", err)
	}
	db.Close()

	// Reopening applies nothing twice and keeps the data.
	db = mustOpen(t, path)
	if got, err := db.SchemaVersion(ctx); err != nil || got != knownVersions(t) {
		t.Errorf("SchemaVersion() after reopen = %d, %v, want %d", got, err, knownVersions(t))
	}
	var rows int
	if err := db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != knownVersions(t) {
		t.Errorf("schema_migrations has %d rows, want %d", rows, knownVersions(t))
	}
	var n int
	if err := db.Reader.QueryRowContext(ctx, `SELECT n FROM user_count`).Scan(&n); err != nil || n != 1 {
		t.Errorf("user count after reopen = %d, %v, want 1", n, err)
	}
}

func TestConnectionPragmas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpen(t, filepath.Join(t.TempDir(), "p.db"))
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "5000"},
	}
	for _, tt := range tests {
		for _, p := range []struct {
			name string
			pool *sql.DB
		}{{"Reader", db.Reader}, {"Writer", db.Writer}} {
			var got string
			if err := p.pool.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", p.name, tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("%s: PRAGMA %s = %q, want %q", p.name, tt.pragma, got, tt.want)
			}
		}
	}
	// Readers are read-only.
	if _, err := db.Reader.ExecContext(ctx, `DELETE FROM user_count`); err == nil {
		t.Error("Reader accepted a write")
	}
	if got := db.Writer.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("Writer MaxOpenConnections = %d, want 1", got)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"gap", fstest.MapFS{"0001_a.sql": {}, "0003_c.sql": {}}},
		{"no number", fstest.MapFS{"users.sql": {}}},
		{"short number", fstest.MapFS{"1_a.sql": {}}},
		{"zero", fstest.MapFS{"0000_a.sql": {}}},
		{"repeat", fstest.MapFS{"0001_a.sql": {}, "0001_b.sql": {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if ms, err := loadMigrations(tt.fsys); err == nil {
				t.Errorf("loadMigrations(%v) = %v, nil; want an error", tt.fsys, ms)
			}
		})
	}
}

func TestPrepareReaderClosedByClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.PrepareReader(ctx, `SELECT n FROM user_count WHERE id = 1`)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.QueryRowContext(ctx).Scan(&n); err != nil || n != 0 {
		t.Errorf("prepared count = %d, %v", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := st.QueryRowContext(ctx).Scan(&n); err == nil {
		t.Error("statement still usable after Close")
	}
	if db.Reader.Stats().OpenConnections != 0 {
		t.Errorf("Reader has %d open connections after Close", db.Reader.Stats().OpenConnections)
	}
	if _, err := db.PrepareReader(ctx, `SELECT 1`); err == nil {
		t.Error("PrepareReader after Close = nil error")
	}
}
