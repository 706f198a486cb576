package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// ErrSchemaTooNew means the database was migrated by a newer authsvc than this
// one: running on it could misread or damage data the newer schema added.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// migration is one numbered SQL file.
type migration struct {
	version int
	name    string
	sql     string
	// before, when set, runs in the migration's transaction, once the step
	// is known to be pending, before its SQL.
	before func(ctx context.Context) error
}

// loadMigrations reads every *.sql file of fsys, named NNNN_description.sql,
// and returns them in order. The versions must run 1, 2, 3, ... without gaps
// or repeats: a gap would mean a file got lost.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || v < 1 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_description.sql", name)
		}
		if want := len(ms) + 1; v != want {
			return nil, fmt.Errorf("migration %s: want version %d next", name, want)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// migrate applies the migrations that db has not recorded yet, each in its own
// transaction together with its row in schema_migrations, on one connection
// holding the flavor's migration lock. Another process migrating the same
// database at the same time is harmless: each step re-checks, inside its
// transaction, whether it is still pending. It returns the schema version
// the database was at.
func migrate(ctx context.Context, db *sql.DB, f flavor, ms []migration) (from int, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	unlock, err := f.lockMigrations(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = fmt.Errorf("migrate: unlock: %w", uerr)
		}
	}()
	_, err = conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at BIGINT  NOT NULL
)`)
	if err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied, err := schemaVersion(ctx, conn)
	if err != nil {
		return 0, err
	}
	if applied > len(ms) {
		return 0, fmt.Errorf("%w: the database is at schema version %d, this binary knows versions up to %d; upgrade the binary",
			ErrSchemaTooNew, applied, len(ms))
	}
	for _, m := range ms {
		if err := apply(ctx, conn, m); err != nil {
			return 0, err
		}
	}
	return applied, nil
}

// current checks that db has every migration of ms applied, without
// changing it. A newer schema is left to migrate to report.
func current(ctx context.Context, db *sql.DB, f flavor, ms []migration) error {
	var tables int
	err := db.QueryRowContext(ctx, f.hasTable, "schema_migrations").Scan(&tables)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	applied := 0
	if tables > 0 {
		if applied, err = schemaVersion(ctx, db); err != nil {
			return err
		}
	}
	if applied < len(ms) {
		return fmt.Errorf("%w: the database is at schema version %d, this binary's is %d", ErrSchemaTooOld, applied, len(ms))
	}
	return nil
}

// apply runs one migration unless it is already recorded.
func apply(ctx context.Context, conn *sql.Conn, m migration) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if sqliteBusy(err) {
		return fmt.Errorf("migration %s: %w: another process holds the database's write lock, perhaps migrating it (moving the audit trail at an upgrade takes a while); try again", m.name, err)
	}
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var n int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if n > 0 {
		return tx.Rollback()
	}
	if m.before != nil {
		if err := m.before(ctx); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.version, m.name, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}

// SchemaVersion returns the highest migration applied to the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, db.Reader)
}

func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
