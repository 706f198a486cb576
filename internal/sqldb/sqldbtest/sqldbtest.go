// Package sqldbtest opens databases for tests: a fresh, migrated database
// per call, closed when the test ends, on SQLite (a file in the test's
// temporary directory) or on PostgreSQL (a schema of its own, dropped when
// the test ends, in the database AUTHSVC_TEST_POSTGRES_URL names).
//
// Store tests run on every dialect with Each. Without
// AUTHSVC_TEST_POSTGRES_URL the PostgreSQL subtests skip, unless
// AUTHSVC_REQUIRE_POSTGRES=1 makes them fail instead (CI sets it).
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for creating schemas

	"authsvc/internal/sqldb"
)

// Open returns a new, migrated database of the Default dialect, closed by
// tb's cleanup.
func Open(tb testing.TB) *sqldb.DB {
	tb.Helper()
	return Default(tb).Open(tb)
}

// Default is the dialect of tests that run on one: SQLite, or the one
// AUTHSVC_TEST_DIALECT names ("sqlite" or "postgres"), so that whole
// packages of API tests can be run again on PostgreSQL (CI does).
func Default(tb testing.TB) Dialect {
	tb.Helper()
	switch v := os.Getenv("AUTHSVC_TEST_DIALECT"); v {
	case "", string(sqldb.SQLite):
		return Dialect{sqldb.SQLite}
	case string(sqldb.Postgres):
		PostgresURL(tb) // skips or fails without a server
		return Dialect{sqldb.Postgres}
	default:
		tb.Fatalf("AUTHSVC_TEST_DIALECT=%q: want sqlite or postgres", v)
		return Dialect{}
	}
}

// SQLiteOnly skips tb unless the Default dialect is SQLite: for tests of
// the file behind the database (its size, its mode, its replacement).
func SQLiteOnly(tb testing.TB) {
	tb.Helper()
	if d := Default(tb); d.Name != sqldb.SQLite {
		tb.Skipf("a test of the SQLite file; AUTHSVC_TEST_DIALECT=%s", d.Name)
	}
}

// OpenPath opens (creating and migrating as needed) the database at path, a
// SQLite file the test owns or a PostgreSQL URL from a Dialect's DSN, and
// closes it in tb's cleanup. It is for tests that hand the same database to
// the code under test.
func OpenPath(tb testing.TB, path string) *sqldb.DB {
	tb.Helper()
	db, err := sqldb.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("sqldb.Open(%s) = %v", redact(path), err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close database: %v", err)
		}
	})
	return db
}

// A Dialect makes new, empty databases of one SQL dialect for tests.
type Dialect struct {
	Name sqldb.Dialect
}

// Dialects are the dialects every store test runs on.
var Dialects = []Dialect{{sqldb.SQLite}, {sqldb.Postgres}}

// Each runs f as a subtest per dialect, named after it. The PostgreSQL
// subtest skips without a server (see the package documentation).
func Each(t *testing.T, f func(t *testing.T, d Dialect)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d.Name), func(t *testing.T) {
			if d.Name == sqldb.Postgres {
				PostgresURL(t) // skips or fails without a server
			}
			f(t, d)
		})
	}
}

// DSN returns what sqldb.Open takes to open a new, empty database of d that
// lives until tb ends: a path in tb.TempDir, or a URL of a new schema.
func (d Dialect) DSN(tb testing.TB) string {
	tb.Helper()
	if d.Name == sqldb.Postgres {
		return NewSchema(tb)
	}
	return filepath.Join(tb.TempDir(), "authsvc.db")
}

// Open opens a new, migrated database of d, closed by tb's cleanup.
func (d Dialect) Open(tb testing.TB) *sqldb.DB {
	tb.Helper()
	return OpenPath(tb, d.DSN(tb))
}

// PostgresURL returns AUTHSVC_TEST_POSTGRES_URL, the database tests may
// create schemas in. Without it tb skips, or fails when
// AUTHSVC_REQUIRE_POSTGRES=1.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("AUTHSVC_TEST_POSTGRES_URL")
	if u != "" {
		return u
	}
	if os.Getenv("AUTHSVC_REQUIRE_POSTGRES") == "1" {
		tb.Fatal("AUTHSVC_REQUIRE_POSTGRES=1 but AUTHSVC_TEST_POSTGRES_URL is not set")
	}
	tb.Skip("PostgreSQL tests skipped: set AUTHSVC_TEST_POSTGRES_URL to a database they may create schemas in")
	return ""
}

// NewSchema creates a schema of its own for tb in the database of
// PostgresURL, drops it (with everything in it) when tb ends, and returns a
// URL whose connections use it. Tests in parallel, even in other packages,
// never see each other's tables.
func NewSchema(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL(tb)
	var b [8]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open %s: %v", redact(base), err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			tb.Errorf("open %s: %v", redact(base), err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("AUTHSVC_TEST_POSTGRES_URL is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// redact is dsn without a password, for test failures.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	return u.Redacted()
}
