package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"authsvc/migrations"
)

// DB is authsvc's database, on SQLite (a file) or PostgreSQL (a server).
//
// On SQLite it is a pool of read-only connections for queries, and a writer
// pool with exactly one connection, so that the process's writers queue in
// database/sql (respecting their contexts) instead of failing with
// SQLITE_BUSY. Every transaction on Writer starts with BEGIN IMMEDIATE,
// taking the write lock up front, so a transaction that reads before it
// writes cannot fail to upgrade its lock halfway through. Every connection
// runs with WAL journaling (readers don't block the writer), foreign keys
// enforced and synchronous=FULL, so a write is durable, even against power
// loss, once its commit returns.
//
// On PostgreSQL, Reader and Writer are one pool: the server has row locks
// and MVCC, so writers need no queue of ours. Transactions run at READ
// COMMITTED; a store that reads a row to change it locks it (FOR UPDATE).
type DB struct {
	Reader *sql.DB
	Writer *sql.DB

	flavor  flavor
	path    string      // SQLite: absolute path of the file
	file    os.FileInfo // SQLite: the file as it was at open, for Ready
	readDSN string      // SQLite: Reader's DSN, for a listener's connection of its own
	created bool        // the database was empty before Open

	migratedFrom, version int // the schema version before Open's migrations, and after

	trail        *DB // SQLite: the audit trail's file, see Audit
	trailVersion int // the migration that moved the trail there

	mu    sync.Mutex
	stmts []*sql.Stmt // closed by Close
}

// Migrated returns the schema version the database was at before Open
// applied its migrations, and the one it is at now; they are equal when
// there was nothing to apply. (Another process may have applied some of
// them meanwhile: from is what Open found once it held the migration lock.)
func (db *DB) Migrated() (from, to int) { return db.migratedFrom, db.version }

// Dialect names the SQL dialect of a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Dialect reports which SQL dialect db speaks.
func (db *DB) Dialect() Dialect { return db.flavor.dialect }

// IsPostgresURL reports whether dsn names a PostgreSQL database
// (postgres:// or postgresql://, in any case) rather than a SQLite file.
func IsPostgresURL(dsn string) bool {
	scheme, _, ok := strings.Cut(dsn, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// Open opens the database that dsn names, a PostgreSQL URL or a SQLite path
// (creating that file if needed), and applies the pending migrations. It
// refuses, with an error wrapping ErrSchemaTooNew, a database migrated by a
// newer binary.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return OpenWith(ctx, dsn, Options{})
}

// Options change how OpenWith treats the database.
type Options struct {
	// MustExist refuses, with an error wrapping fs.ErrNotExist, a missing
	// SQLite file or a PostgreSQL database that was never migrated, instead
	// of creating it.
	MustExist bool
	// NoMigrate refuses an existing database with pending migrations, with an
	// error wrapping ErrSchemaTooOld, instead of applying them. A database
	// this call creates is always migrated.
	NoMigrate bool
	// MaxConns is the size of the PostgreSQL connection pool, 10 when 0.
	// SQLite ignores it: it has one writer and a reader per core.
	MaxConns int
	// IOTimeout bounds every read and write on a PostgreSQL connection,
	// 10 s when 0: how long a query waits for a server that stopped
	// answering. SQLite ignores it.
	IOTimeout time.Duration
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*DB, error) {
	if IsPostgresURL(dsn) {
		return openPostgres(ctx, dsn, migrations.Postgres(), o)
	}
	return open(ctx, dsn, migrations.SQLite(), o)
}

// ErrSchemaTooOld means the database needs migrations this binary has and
// the caller asked not to apply them.
var ErrSchemaTooOld = errors.New("database schema is older than this binary")

// notExistError is a missing database. It matches fs.ErrNotExist; its
// message says what is missing, which the drivers' own messages ("unable to
// open database file") do not.
type notExistError struct{ msg string }

func (e *notExistError) Error() string        { return e.msg }
func (e *notExistError) Is(target error) bool { return target == fs.ErrNotExist }

// Created reports whether Open created the database: the file did not exist
// before, or the PostgreSQL schema had never been migrated. A service that
// expected its data finds an empty database instead, which usually means a
// wrong path, a wrong URL or a volume that was not mounted.
func (db *DB) Created() bool { return db.created }

// Close closes the statements prepared by PrepareReader and the pools, and
// the audit trail's file (see Audit). On SQLite, closing the last
// connection checkpoints the WAL into the file.
func (db *DB) Close() error {
	db.mu.Lock()
	stmts := db.stmts
	db.stmts = nil
	db.mu.Unlock()
	var errs []error
	for _, st := range stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, db.Reader.Close())
	if db.Writer != db.Reader {
		errs = append(errs, db.Writer.Close())
	}
	if db.trail != nil {
		errs = append(errs, db.trail.Close())
	}
	return errors.Join(errs...)
}

// PrepareReader prepares a query for the reader pool, to be run many times:
// parsing a statement costs SQLite more than running a primary-key lookup.
// Close closes the statement; until then a connection that has it stays
// open, so statements are prepared here rather than with Reader.Prepare.
func (db *DB) PrepareReader(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := db.Reader.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	db.mu.Lock()
	db.stmts = append(db.stmts, st)
	db.mu.Unlock()
	return st, nil
}

// Ping checks that the database (and the audit trail's file) answers
// queries and accepts the write lock.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if db.Writer != db.Reader {
		if err := db.Writer.PingContext(ctx); err != nil {
			return fmt.Errorf("ping database: %w", err)
		}
	}
	if db.trail != nil {
		if err := db.trail.Ping(ctx); err != nil {
			return fmt.Errorf("audit trail: %w", err)
		}
	}
	return nil
}

// Ready checks that the database can take writes now: on SQLite, that the
// path still names the file that was opened and the file is writable; on
// both, that a one-row write commits (which fails on a full disk, a
// read-only or failing file system, a server that is down or in recovery).
// It writes, so callers that may be called often should cache its result.
func (db *DB) Ready(ctx context.Context) error {
	if db.flavor.dialect == SQLite {
		if err := db.fileReady(ErrFileReplaced, ErrReadOnly); err != nil {
			return err
		}
		// The trail's file shares the directory, and so the disk, which
		// the write below checks.
		if db.trail != nil {
			if err := db.trail.fileReady(ErrAuditFileReplaced, ErrAuditFileReadOnly); err != nil {
				return err
			}
		}
	}
	if err := db.Reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	_, err := db.Writer.ExecContext(ctx, `INSERT INTO readiness (id, probes) VALUES (1, 1)
		ON CONFLICT (id) DO UPDATE SET probes = readiness.probes + 1`)
	if err != nil {
		return fmt.Errorf("ready: write: %w", err)
	}
	return nil
}
