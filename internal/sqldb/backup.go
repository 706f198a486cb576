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

// Backup writes a consistent copy of the database file src to dst with
// VACUUM INTO, which reads one snapshot while other connections, even other
// processes, keep writing. It neither creates src nor migrates it, so a
// database can be backed up before an upgrade. The copy is written to a
// temporary file beside dst, synced, and then moved into place, so dst is
// either absent or complete; it has mode 0600, like the database. An
// existing dst is replaced only if overwrite is set, and never when it is
// src itself.
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
	if fi, err := os.Stat(dstAbs); err == nil {
		if si, serr := os.Stat(srcAbs); serr == nil && os.SameFile(fi, si) {
			return fmt.Errorf("backup to %s: that is the database itself", dst)
		}
		if !overwrite {
			return fmt.Errorf("backup to %s: %w", dst, ErrBackupExists)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}

	// VACUUM INTO writes to a file that is missing or empty; CreateTemp
	// makes an empty one with mode 0600 that SQLite keeps.
	tmp, err := os.CreateTemp(filepath.Dir(dstAbs), "."+filepath.Base(dstAbs)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer func() {
		if err != nil {
			os.Remove(tmpName)
		}
	}()

	db, err := sql.Open("sqlite", dsn(srcAbs))
	if err != nil {
		return fmt.Errorf("backup %s: %w", src, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, tmpName); err != nil {
		return fmt.Errorf("backup %s: %w", src, err)
	}
	// SQLite does not sync the file VACUUM INTO wrote.
	if err := syncFile(tmpName); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	if overwrite {
		err = os.Rename(tmpName, dstAbs)
	} else if err = os.Link(tmpName, dstAbs); err == nil { // fails if dst appeared meanwhile
		os.Remove(tmpName)
	} else if errors.Is(err, fs.ErrExist) {
		err = ErrBackupExists
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	if err := syncFile(filepath.Dir(dstAbs)); err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	return nil
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
