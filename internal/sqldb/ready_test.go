package sqldb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReady: a healthy database is ready and the probe's write commits; a
// file deleted, replaced or made read-only under the open database (its own
// or the audit trail's), or a write that fails, is not ready.
func TestReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		db := mustOpen(t, filepath.Join(t.TempDir(), "authsvc.db"))
		for want := 1; want <= 2; want++ {
			if err := db.Ready(ctx); err != nil {
				t.Fatalf("Ready() = %v", err)
			}
			var probes int
			if err := db.Reader.QueryRowContext(ctx, `SELECT probes FROM readiness`).Scan(&probes); err != nil {
				t.Fatal(err)
			}
			if probes != want {
				t.Errorf("after %d probes the row says %d: the write did not commit", want, probes)
			}
		}
	})

	// Each change is made to the database's file and to the audit trail's.
	type wanted int
	const (
		anyError wanted = iota
		replaced
		readOnly
	)
	tests := []struct {
		name   string
		change func(t *testing.T, db *DB, path string)
		want   wanted
	}{
		{"deleted", func(t *testing.T, _ *DB, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, replaced},
		{"replaced", func(t *testing.T, _ *DB, path string) {
			other := filepath.Join(filepath.Dir(path), "other.db")
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, replaced},
		{"read-only", func(t *testing.T, _ *DB, path string) {
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
		}, readOnly},
		{"write fails", func(t *testing.T, db *DB, _ string) {
			// The writer pool has one connection, so this reaches it: every
			// write on it now fails as on a read-only file system.
			if _, err := db.Writer.ExecContext(ctx, `PRAGMA query_only = 1`); err != nil {
				t.Fatal(err)
			}
		}, anyError},
	}
	files := []struct {
		name               string
		path               func(string) string
		replaced, readOnly error
	}{
		{"database", func(p string) string { return p }, ErrFileReplaced, ErrReadOnly},
		{"audit", AuditPath, ErrAuditFileReplaced, ErrAuditFileReadOnly},
	}
	for _, f := range files {
		for _, tt := range tests {
			if f.name == "audit" && tt.want == anyError {
				continue // the probe writes to the database's file only
			}
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "authsvc.db")
				db := mustOpen(t, path)
				if err := db.Ready(ctx); err != nil {
					t.Fatalf("Ready() before the change = %v", err)
				}
				tt.change(t, db, f.path(path))
				err := db.Ready(ctx)
				want := map[wanted]error{replaced: f.replaced, readOnly: f.readOnly}[tt.want]
				if err == nil || want != nil && !errors.Is(err, want) {
					t.Errorf("Ready() = %v, want %v", err, want)
				}
			})
		}
	}
}
