// Package sqldbtest opens databases for tests: a fresh, migrated database
// per call, in the test's temporary directory, closed when the test ends.
// Tests that use it are the ones to run against every dialect.
package sqldbtest

import (
	"context"
	"path/filepath"
	"testing"

	"authsvc/internal/sqldb"
)

// Open returns a new, migrated database in tb.TempDir, closed by tb's
// cleanup.
func Open(tb testing.TB) *sqldb.DB {
	tb.Helper()
	return OpenPath(tb, filepath.Join(tb.TempDir(), "authsvc.db"))
}

// OpenPath opens (creating and migrating as needed) the database at path, a
// file the test owns, and closes it in tb's cleanup. It is for tests that
// hand the same file to the code under test.
func OpenPath(tb testing.TB, path string) *sqldb.DB {
	tb.Helper()
	db, err := sqldb.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("sqldb.Open(%q) = %v", path, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close database: %v", err)
		}
	})
	return db
}
