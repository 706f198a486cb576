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
// before migration 0013), to AuditPath(dst). Each is written with VACUUM
// INTO, which reads one snapshot while other connections, even other
// processes, keep writing; the two snapshots are taken one after the
// other. It neither creates src nor migrates it, so a database can be
// backed up before an upgrade. Each copy is written to a temporary file
// beside its destination and synced; then the trail's copy and the
// database's are moved into place, so dst is either absent or complete,
// with its trail beside it. They have mode 0600, like the database. An
// existing destination is replaced only if overwrite is set, and never
// when it is the file being copied.
func Backup(ctx context.Context, src, dst string, overwrite bool) (err error) {
	srcAbs, err := filepath.Abs(src)
	if err != nil {
		return fmt.Errorf("backup %s: %w", src, err)
	}
	if _, err := create(src, srcAbs, true); err != nil {
		return err
	}
	dstAbs, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	copies := []*fileCopy{{src: srcAbs, dst: dstAbs}}
	if _, err := os.Stat(AuditPath(srcAbs)); err == nil {
		// The trail first: dst appears last, complete with its trail.
		copies = []*fileCopy{{src: AuditPath(srcAbs), dst: AuditPath(dstAbs)}, copies[0]}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup %s: %w", src, err)
	}
	for _, c := range copies {
		if err := c.check(overwrite); err != nil {
			return err
		}
	}
	defer func() {
		for _, c := range copies {
			c.cleanUp(err != nil)
		}
	}()
	for _, c := range copies {
		if err := c.write(ctx); err != nil {
			return err
		}
	}
	for _, c := range copies {
		if err := c.place(overwrite); err != nil {
			return err
		}
	}
	if err := syncFile(filepath.Dir(dstAbs)); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	return nil
}

// fileCopy is one file of a Backup: src copied to dst through tmp.
type fileCopy struct {
	src, dst string
	tmp      string // the copy until it is placed, "" before write
	linked   bool   // place made dst, which a failure later removes
}

// check refuses a destination that exists, unless overwrite is set, or
// that is the source itself.
func (c *fileCopy) check(overwrite bool) error {
	fi, err := os.Stat(c.dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("backup to %s: %w", c.dst, err)
	}
	if si, serr := os.Stat(c.src); serr == nil && os.SameFile(fi, si) {
		return fmt.Errorf("backup to %s: that is the database itself", c.dst)
	}
	if !overwrite {
		return fmt.Errorf("backup to %s: %w", c.dst, ErrBackupExists)
	}
	return nil
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
	db, err := sql.Open("sqlite", dsn(c.src))
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

// place moves the copy to dst: a rename when overwriting, else a link,
// which fails if dst appeared meanwhile.
func (c *fileCopy) place(overwrite bool) error {
	var err error
	if overwrite {
		err = os.Rename(c.tmp, c.dst)
	} else if err = os.Link(c.tmp, c.dst); err == nil {
		c.linked = true
	} else if errors.Is(err, fs.ErrExist) {
		err = ErrBackupExists
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", c.dst, err)
	}
	return nil
}

// cleanUp removes the temporary file, and, when the backup failed, a dst
// that place linked.
func (c *fileCopy) cleanUp(failed bool) {
	if c.tmp != "" {
		os.Remove(c.tmp) // gone already if renamed
	}
	if failed && c.linked {
		os.Remove(c.dst)
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
