// Package sqldb opens authsvc's database and keeps its schema current with
// the migrations embedded in package migrations. The SQL of the stores is
// written once for every dialect; what differs between dialects is kept in
// an unexported flavor chosen at open. Only SQLite exists today.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"authsvc/migrations"
)

// busyTimeout is how long, in milliseconds, a connection waits for a lock
// held by another connection (another process on the same file, or a reader
// checkpointing the WAL) before failing with SQLITE_BUSY. Our own writers never
// wait on each other here: they queue for the single writer connection.
const busyTimeout = 5000

// mmapSize is how much of the database file, in bytes, each connection maps
// into memory. It is address space, not memory: the pages are the kernel's
// page cache, shared by every connection.
const mmapSize = 1 << 30

// DB is the embedded database: a pool of read-only connections for queries,
// and a writer pool with exactly one connection, so that the process's
// writers queue in database/sql (respecting their contexts) instead of
// failing with SQLITE_BUSY. Every transaction on Writer starts with BEGIN
// IMMEDIATE, taking the write lock up front, so a transaction that reads
// before it writes cannot fail to upgrade its lock halfway through.
//
// Every connection runs with WAL journaling (readers don't block the writer),
// foreign keys enforced and synchronous=FULL, so a write is durable, even
// against power loss, once its commit returns.
type DB struct {
	Reader *sql.DB
	Writer *sql.DB

	flavor  flavor
	path    string      // absolute path of the file
	file    os.FileInfo // the file as it was at open, for Ready
	created bool        // the file did not exist before Open

	mu    sync.Mutex
	stmts []*sql.Stmt // closed by Close
}

// Errors of Ready, for a file that was changed under the running process.
// Each says, with NotReadyDetail, what a readiness probe may tell a client.
var (
	// ErrFileReplaced: the path no longer names the file that was opened (it
	// was deleted, or another file was moved there). Writes still go to the
	// open file, where nobody will find them after a restart.
	ErrFileReplaced error = &notReadyError{"database file was deleted or replaced",
		"the database file was deleted or replaced while serving"}
	// ErrReadOnly: nobody may write the file any more. The open connections
	// may still manage to, but the next connection or restart cannot.
	ErrReadOnly error = &notReadyError{"database file is read-only", "the database file is read-only"}
)

// notReadyError is an error of Ready that says no more than a client may
// read: no path, no driver message.
type notReadyError struct{ msg, detail string }

func (e *notReadyError) Error() string { return e.msg }

// NotReadyDetail is the sentence /readyz shows a client.
func (e *notReadyError) NotReadyDetail() string { return e.detail }

// Open opens the database file at path, creating it if needed, and applies
// the pending migrations from migrations.SQLite. It refuses, with an error
// wrapping ErrSchemaTooNew, a database migrated by a newer binary.
func Open(ctx context.Context, path string) (*DB, error) {
	return open(ctx, path, migrations.SQLite(), Options{})
}

// Options change how OpenWith treats the file.
type Options struct {
	// MustExist refuses a missing file, with an error wrapping
	// fs.ErrNotExist, instead of creating it.
	MustExist bool
	// NoMigrate refuses an existing database with pending migrations, with an
	// error wrapping ErrSchemaTooOld, instead of applying them. A file this
	// call creates is always migrated.
	NoMigrate bool
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*DB, error) {
	return open(ctx, path, migrations.SQLite(), o)
}

// ErrSchemaTooOld means the database needs migrations this binary has and
// the caller asked not to apply them.
var ErrSchemaTooOld = errors.New("database schema is older than this binary")

// create makes sure the file at abs exists, creating it with mode 0600 (it
// holds password hashes), and reports whether it did. SQLite gives the -wal,
// -shm and -journal files the database file's mode, so they are 0600 too.
// path is the name the caller gave, for errors.
func create(path, abs string, mustExist bool) (created bool, err error) {
	if dir := filepath.Dir(abs); !isDir(dir) {
		return false, &notExistError{fmt.Sprintf("open database %s: directory %s does not exist", path, dir)}
	}
	if mustExist {
		if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
			return false, &notExistError{fmt.Sprintf("database %s does not exist", path)}
		} else if err != nil {
			return false, fmt.Errorf("open database %s: %w", path, err)
		}
		return false, nil
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("open database %s: %w", path, err)
	}
	return true, f.Close()
}

// notExistError is a missing database file or directory. It matches
// fs.ErrNotExist; its message says which is missing, which SQLite's own
// ("unable to open database file") does not.
type notExistError struct{ msg string }

func (e *notExistError) Error() string        { return e.msg }
func (e *notExistError) Is(target error) bool { return target == fs.ErrNotExist }

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// dsn is the data source name of the file at abs, with the pragmas every
// connection runs. It is a "file:" URI with the path escaped, so that a '?'
// or '#' in the path cannot be taken for the start of the parameters, and
// absolute, so that no path can be read as a URI authority
// ("file://host/...").
func dsn(abs string) string {
	return "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() +
		"?_pragma=busy_timeout(" + fmt.Sprint(busyTimeout) + ")"
}

// open is OpenWith with the migrations taken from fsys, for tests.
func open(ctx context.Context, path string, fsys fs.FS, o Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	created, err := create(path, abs, o.MustExist)
	if err != nil {
		return nil, err
	}
	base := dsn(abs) +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)" +
		// Pages are read from a shared mapping of the file instead of a
		// pread into each connection's cache: a point read among 1M users
		// took a quarter less CPU (BenchmarkGetRandom in internal/users).
		"&_pragma=mmap_size(" + fmt.Sprint(mmapSize) + ")"

	writer, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	// The writer connects first: it switches a new file to WAL, which the
	// readers, being query_only, could not.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	f := sqlite
	if o.NoMigrate && !created {
		if err := current(ctx, writer, f, ms); err != nil {
			writer.Close()
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
	}
	if err := migrate(ctx, writer, f, ms); err != nil {
		writer.Close()
		return nil, fmt.Errorf("migrate database %s: %w", path, err)
	}

	reader, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)
	if err := reader.PingContext(ctx); err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// Taken after the connections opened the file, so it is the file they
	// hold.
	file, err := os.Stat(abs)
	if err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return &DB{Reader: reader, Writer: writer, flavor: f, path: abs, file: file, created: created}, nil
}

// Created reports whether Open created the file: it did not exist before.
// A service that expected its data finds an empty database instead, which
// usually means a wrong path or a volume that was not mounted.
func (db *DB) Created() bool { return db.created }

// Close closes the statements prepared by PrepareReader and both pools.
// Closing the last connection checkpoints the WAL into the database file.
func (db *DB) Close() error {
	db.mu.Lock()
	stmts := db.stmts
	db.stmts = nil
	db.mu.Unlock()
	var errs []error
	for _, st := range stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, db.Reader.Close(), db.Writer.Close())
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

// Ping checks that the database answers queries and accepts the write lock.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := db.Writer.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Ready checks that the database can take writes now: the path still names
// the file that was opened, the file is writable, and a one-row write
// commits (which fails on a full disk, a read-only or failing file system).
// It writes, so callers that may be called often should cache its result.
func (db *DB) Ready(ctx context.Context) error {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrFileReplaced
	case err != nil:
		return fmt.Errorf("ready: %w", err)
	case !os.SameFile(fi, db.file):
		return ErrFileReplaced
	case fi.Mode().Perm()&0o222 == 0:
		return ErrReadOnly
	}
	if err := db.Reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	_, err = db.Writer.ExecContext(ctx, `INSERT INTO readiness (id, probes) VALUES (1, 1)
		ON CONFLICT (id) DO UPDATE SET probes = probes + 1`)
	if err != nil {
		return fmt.Errorf("ready: write: %w", err)
	}
	return nil
}
