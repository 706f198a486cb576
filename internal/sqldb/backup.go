package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrBackupExists means the backup's destination exists and the caller did
// not allow replacing it.
var ErrBackupExists = errors.New("backup destination exists")

// Backup writes a consistent copy of the SQLite database file src to dst,
// and of its audit trail's file, when it has one (AuditPath(src), absent
// before migration 0013), to AuditPath(dst), which it returns ("" when
// there was none). Each is written with VACUUM INTO, which reads one
// snapshot while other connections, even other processes, keep writing;
// the trail's is taken first, then the database's. It neither creates src
// nor migrates it, so a database can be backed up before an upgrade. Each
// copy is written to a temporary file beside its destination and synced;
// then the trail's copy and the database's are moved into place, so dst is
// either absent or complete, with its trail beside it, and a failure puts
// back what they replaced. They have mode 0600, like the database. An
// existing destination is replaced only if overwrite is set, and never
// when it is one of src's files. A file at AuditPath(dst) that a backup
// without a trail would leave beside it counts as a destination, and
// overwriting removes it (and puts it back if the backup fails).
func Backup(ctx context.Context, src, dst string, overwrite bool) (trail string, err error) {
	srcAbs, err := filepath.Abs(src)
	if err != nil {
		return "", fmt.Errorf("backup %s: %w", src, err)
	}
	if _, err := create(src, srcAbs, true); err != nil {
		return "", err
	}
	dstAbs, err := filepath.Abs(dst)
	if err != nil {
		return "", fmt.Errorf("backup to %s: %w", dst, err)
	}
	sources := []string{srcAbs, AuditPath(srcAbs)}
	main := &fileCopy{src: srcAbs, dst: dstAbs}
	copies := []*fileCopy{main}
	var trailCopy *fileCopy
	if _, err := os.Stat(AuditPath(srcAbs)); err == nil {
		// The trail first: dst appears last, complete with its trail.
		trailCopy = &fileCopy{src: AuditPath(srcAbs), dst: AuditPath(dstAbs)}
		copies = []*fileCopy{trailCopy, main}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("backup %s: %w", src, err)
	}
	for _, c := range copies {
		if err := checkDestination(c.dst, sources, overwrite); err != nil {
			return "", err
		}
	}
	// A trail beside dst that would not be this backup's: a copy of no
	// file, placed as a removal.
	var stale *fileCopy
	if trailCopy == nil {
		if err := checkDestination(AuditPath(dstAbs), sources, overwrite); err != nil {
			return "", err
		}
		stale = &fileCopy{dst: AuditPath(dstAbs)}
	}
	defer func() {
		for _, c := range append(copies, stale) {
			if c != nil {
				c.cleanUp(err != nil)
			}
		}
	}()
	for _, c := range copies {
		if err := c.write(ctx); err != nil {
			return "", err
		}
	}
	if err := checkPair(ctx, main, trailCopy); err != nil {
		return "", fmt.Errorf("backup %s: %w", src, err)
	}
	for _, c := range copies {
		if err := c.place(overwrite); err != nil {
			return "", err
		}
	}
	if stale != nil && overwrite {
		if err := stale.remove(); err != nil {
			return "", err
		}
	}
	if err := syncFile(filepath.Dir(dstAbs)); err != nil {
		return "", fmt.Errorf("backup to %s: %w", dst, err)
	}
	if trailCopy != nil {
		trail = AuditPath(dst)
	}
	return trail, nil
}

// checkDestination refuses a destination that exists, unless overwrite is
// set, or that is one of sources.
func checkDestination(dst string, sources []string, overwrite bool) error {
	fi, err := os.Stat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	for _, src := range sources {
		if si, err := os.Stat(src); err == nil && os.SameFile(fi, si) {
			return fmt.Errorf("backup to %s: that is one of the database's own files", dst)
		}
	}
	if !overwrite {
		return fmt.Errorf("backup to %s: %w", dst, ErrBackupExists)
	}
	return nil
}

// checkPair checks that the copies belong together: a database whose
// trail had moved (auditFileMigration applied) has a copy of that trail,
// taken after the move. Either can fail when the backup runs beside an
// upgrade's first start, which moves the trail; or when the trail's file
// was deleted.
func checkPair(ctx context.Context, main, trail *fileCopy) error {
	moved, err := queryCopy(ctx, main.tmp, `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'schema_migrations'`,
		`SELECT COUNT(*) FROM schema_migrations WHERE name = '`+auditFileMigration+`'`)
	switch {
	case err != nil:
		return err
	case moved == 0:
		return nil
	case trail == nil:
		return fmt.Errorf("the database keeps its audit trail in %s, which is missing (or it moved there while the backup ran: back up again)", AuditPath(main.src))
	}
	n, err := queryCopy(ctx, trail.tmp, `SELECT COUNT(*) FROM sqlite_schema WHERE name = 'trail_moved'`, `SELECT COUNT(*) FROM trail_moved`)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("the audit trail moved to its own file while the backup ran: back up again")
	}
	return nil
}

// queryCopy runs query on the copy at path, when check (a count) is not 0,
// and returns its count; else 0.
func queryCopy(ctx context.Context, path, check, query string) (int, error) {
	db, err := sql.Open("sqlite", dsn(path)+"&immutable=1")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, check).Scan(&n)
	if err == nil && n > 0 {
		err = db.QueryRowContext(ctx, query).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("read the copy: %w", err)
	}
	return n, nil
}

// fileCopy is one file of a Backup: src copied to dst through tmp, or dst
// removed.
type fileCopy struct {
	src, dst string
	tmp      string // the copy until it is placed, "" before write
	prev     string // overwriting: a link to what dst was, "" if nothing
	placed   bool   // dst is the copy now
}

// write copies src to a new temporary file beside dst, and syncs it.
func (c *fileCopy) write(ctx context.Context) error {
	// VACUUM INTO writes to a file that is missing or empty; CreateTemp
	// makes an empty one with mode 0600 that SQLite keeps.
	tmp, err := os.CreateTemp(filepath.Dir(c.dst), "."+filepath.Base(c.dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup to %s: %w", c.dst, err)
	}
	c.tmp = tmp.Name()
	tmp.Close()
	// Read-only: a file deleted since Backup saw it is an error, not a
	// new, empty database.
	db, err := sql.Open("sqlite", dsn(c.src)+"&mode=ro")
	if err != nil {
		return fmt.Errorf("backup %s: %w", c.src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, c.tmp); err != nil {
		return fmt.Errorf("backup %s: %w", c.src, err)
	}
	// SQLite does not sync the file VACUUM INTO wrote.
	if err := syncFile(c.tmp); err != nil {
		return fmt.Errorf("backup to %s: %w", c.dst, err)
	}
	return nil
}

// place moves the copy to dst: when overwriting, a rename, after keeping
// what dst was; else a link, which fails if dst appeared meanwhile.
func (c *fileCopy) place(overwrite bool) error {
	var err error
	if overwrite {
		c.keep(c.tmp + ".prev")
		err = os.Rename(c.tmp, c.dst)
	} else if err = os.Link(c.tmp, c.dst); errors.Is(err, fs.ErrExist) {
		err = ErrBackupExists
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", c.dst, err)
	}
	c.placed = true
	return nil
}

// remove removes dst, keeping it to put back.
func (c *fileCopy) remove() error {
	tmp, err := os.CreateTemp(filepath.Dir(c.dst), "."+filepath.Base(c.dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup to %s: %w", c.dst, err)
	}
	tmp.Close()
	os.Remove(tmp.Name()) // only its unique name is wanted
	c.keep(tmp.Name())
	if err := os.Remove(c.dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup to %s: remove the trail of the backup replaced: %w", c.dst, err)
	}
	c.placed = true
	return nil
}

// keep links what dst is now to prev, to put back if the backup fails. On a
// file system without hard links there is nothing to put back.
func (c *fileCopy) keep(prev string) {
	if err := os.Link(c.dst, prev); err == nil {
		c.prev = prev
	}
}

// cleanUp removes the temporary files and, when the backup failed, puts
// back what a placed copy replaced, or removes it.
func (c *fileCopy) cleanUp(failed bool) {
	if failed && c.placed {
		if c.prev != "" {
			os.Rename(c.prev, c.dst)
		} else {
			os.Remove(c.dst)
		}
	}
	for _, f := range []string{c.tmp, c.prev} {
		if f != "" {
			os.Remove(f) // gone already if renamed
		}
	}
}

// syncFile flushes a file, or a directory's entries, to stable storage.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
