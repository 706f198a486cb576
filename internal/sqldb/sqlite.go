// Package sqldb opens authsvc's database, SQLite or PostgreSQL, and keeps
// its schema current with the migrations embedded in package migrations.
// The SQL of the stores is written once for both dialects; what differs
// between them is kept in an unexported flavor chosen at open.
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
	"slices"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"authsvc/migrations"
)

// busyTimeout is how long, in milliseconds, a connection waits for a lock
// held by another connection (another process on the same file, or a reader
// checkpointing the WAL) before failing with SQLITE_BUSY. Our own writers never
// wait on each other here: they queue for the single writer connection.
const busyTimeout = 5000

// busyRetry is how often a writer connection that found a new file locked
// tries again (see connectWriter).
const busyRetry = 10 * time.Millisecond

// mmapSize is how much of the database file, in bytes, each connection maps
// into memory. It is address space, not memory: the pages are the kernel's
// page cache, shared by every connection.
const mmapSize = 1 << 30

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
	// ErrAuditFileReplaced and ErrAuditFileReadOnly are the same of the
	// audit trail's file (AuditPath).
	ErrAuditFileReplaced error = &notReadyError{"audit trail file was deleted or replaced",
		"the audit trail's file was deleted or replaced while serving"}
	ErrAuditFileReadOnly error = &notReadyError{"audit trail file is read-only", "the audit trail's file is read-only"}
)

// notReadyError is an error of Ready that says no more than a client may
// read: no path, no driver message.
type notReadyError struct{ msg, detail string }

func (e *notReadyError) Error() string { return e.msg }

// NotReadyDetail is the sentence /readyz shows a client.
func (e *notReadyError) NotReadyDetail() string { return e.detail }

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

// open opens the SQLite file at path with the migrations of fsys. When they
// include auditFileMigration, it also opens the audit trail's file, and
// while that migration is pending, moves the trail there before the
// migration drops its tables.
func open(ctx context.Context, path string, fsys fs.FS, o Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	ms, err := loadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ms, func(m migration) bool { return m.name == auditFileMigration })
	if i < 0 {
		return openFile(ctx, path, ms, o)
	}
	trailMs, err := loadMigrations(migrations.SQLiteAudit())
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// The trail's file is opened once the database's is known to exist:
	// by the move, which creates it, or after the migrations, as o says,
	// though a new database always gets one.
	var trail *DB
	openTrail := func(ctx context.Context, o Options) (err error) {
		if trail != nil {
			return nil
		}
		trail, err = openFile(ctx, AuditPath(path), trailMs, o)
		if errors.Is(err, fs.ErrNotExist) && isDir(filepath.Dir(abs)) {
			err = &notExistError{fmt.Sprintf("the audit trail's file %s, beside the database, does not exist: restore it with the database, or let serve create it empty", AuditPath(path))}
		}
		return err
	}
	ms[i].before = func(ctx context.Context) error {
		if err := openTrail(ctx, Options{}); err != nil {
			return err
		}
		return moveTrail(ctx, trail, abs)
	}
	db, err := openFile(ctx, path, ms, o)
	if err == nil {
		if err = openTrail(ctx, Options{MustExist: o.MustExist && !db.created, NoMigrate: o.NoMigrate}); err != nil {
			db.Close()
		}
	}
	if err != nil {
		if trail != nil {
			trail.Close()
		}
		return nil, err
	}
	db.trail, db.trailVersion = trail, ms[i].version
	switch {
	case db.TrailMoved():
		// The copy grew the trail's WAL by about the trail's size, and
		// nothing else would shrink it while the file is open (the drop
		// grew the database's a little). Best effort: a reader of
		// another process may hold the WAL.
		trail.Writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		db.Writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	case db.TrailCreated():
		// An empty trail is as good as a moved one from now on: a backup
		// checks for this row.
		if err := markTrailCreated(ctx, trail); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// openFile opens the SQLite file at path with the migrations ms.
func openFile(ctx context.Context, path string, ms []migration, o Options) (*DB, error) {
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
	if err := connectWriter(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	f := sqliteFlavor
	if o.NoMigrate && !created {
		if err := current(ctx, writer, f, ms); err != nil {
			writer.Close()
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
	}
	from, err := migrate(ctx, writer, f, ms)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("migrate database %s: %w", path, err)
	}

	readDSN := base + "&_pragma=query_only(1)"
	reader, err := sql.Open("sqlite", readDSN)
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
	return &DB{Reader: reader, Writer: writer, flavor: f, path: abs, file: file, readDSN: readDSN, created: created,
		migratedFrom: from, version: len(ms)}, nil
}

// connectWriter opens writer's connection, whose pragmas switch a new file
// to WAL. The switch needs the file's exclusive lock, and SQLite answers
// SQLITE_BUSY at once, past the busy timeout, when another connection
// making the same switch holds a shared lock (processes opening one new
// file together: neither could get the lock by waiting). So a busy answer
// is retried every busyRetry, within the busy timeout in all.
func connectWriter(ctx context.Context, writer *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, busyTimeout*time.Millisecond)
	defer cancel()
	for {
		err := writer.PingContext(ctx)
		if err == nil || !sqliteBusy(err) {
			return err
		}
		t := time.NewTimer(busyRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// fileReady checks that the path still names the file that was opened and
// that the file is writable, returning replaced or readOnly if not.
func (db *DB) fileReady(replaced, readOnly error) error {
	fi, err := os.Stat(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return replaced
	case err != nil:
		return fmt.Errorf("ready: %w", err)
	case !os.SameFile(fi, db.file):
		return replaced
	case fi.Mode().Perm()&0o222 == 0:
		return readOnly
	}
	return nil
}
