package sqldb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// TestFileModes: the database and the files SQLite keeps beside it hold
// password hashes, so only their owner may read them.
func TestFileModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modes.db")
	db := mustOpen(t, path)
	if _, err := db.Writer.ExecContext(ctx, `INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ('x', 'x', 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	// While the database is open in WAL mode, all three files exist.
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(name), err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(name), m)
		}
	}
	backup := filepath.Join(t.TempDir(), "copy.db")
	if _, err := Backup(ctx, path, backup, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(backup); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup has mode %v, want 0600", fi.Mode())
	}
}

func TestOpenMustExist(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	_, err := OpenWith(ctx, missing, Options{MustExist: true})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("OpenWith(missing, MustExist) = %v, want ErrNotExist naming the path", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenWith(missing, MustExist) created the file: %v", err)
	}
	// A missing directory is named as such, with or without MustExist.
	noDir := filepath.Join(dir, "nodir", "a.db")
	for _, o := range []Options{{}, {MustExist: true}} {
		_, err := OpenWith(ctx, noDir, o)
		if want := "directory " + filepath.Dir(noDir) + " does not exist"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OpenWith(%s, %+v) = %v, want %q", noDir, o, err, want)
		}
	}
}

// TestOpenNoMigrateEmptyFile: an empty file that exists is a database at
// version 0, not migrated. (TestOpenNoMigrate runs the rest on every dialect.)
func TestOpenNoMigrateEmptyFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1 := fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER);`)}}
	// An empty file that exists is a database at version 0, not migrated.
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := open(ctx, empty, v1, Options{NoMigrate: true}); !errors.Is(err, ErrSchemaTooOld) {
		t.Errorf("open(empty file, NoMigrate) = %v, want ErrSchemaTooOld", err)
	}
}

func TestBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db := mustOpen(t, src)
	for i := range 100 {
		if _, err := db.Writer.ExecContext(ctx, `INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ($1, 'x', 1, 0, 0)`, fmt.Sprint("u", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Audit().Writer.ExecContext(ctx, `INSERT INTO audit_events (occurred_at, event) VALUES (1, 'user.created')`); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "backup.db")
	if trail, err := Backup(ctx, src, dst, false); err != nil || trail != AuditPath(dst) {
		t.Fatalf("Backup() = %q, %v, want the trail's copy at %q", trail, err, AuditPath(dst))
	}
	count := func(path string) int {
		t.Helper()
		b, err := OpenWith(ctx, path, Options{MustExist: true, NoMigrate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		var ok string
		if err := b.Reader.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Errorf("integrity_check of %s = %q, %v", filepath.Base(path), ok, err)
		}
		if err := b.Audit().Reader.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Errorf("integrity_check of %s = %q, %v", filepath.Base(AuditPath(path)), ok, err)
		}
		var n, events int
		if err := b.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := b.Audit().Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&events); err != nil || events != 1 {
			t.Errorf("the trail's backup holds %d events, %v, want 1", events, err)
		}
		return n
	}
	if n := count(dst); n != 100 {
		t.Errorf("backup holds %d users, want 100", n)
	}
	if fi, err := os.Stat(AuditPath(dst)); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("the trail's backup has mode %v, want 0600", fi.Mode())
	}

	// A trail's backup in the way is refused, and nothing is written.
	lone := filepath.Join(dir, "lone.db")
	if err := os.WriteFile(AuditPath(lone), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, src, lone, false); !errors.Is(err, ErrBackupExists) || !strings.Contains(err.Error(), AuditPath(lone)) {
		t.Errorf("Backup with the trail's destination taken = %v, want ErrBackupExists naming it", err)
	}
	if _, err := os.Stat(lone); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused backup wrote the database's copy: %v", err)
	}

	// An existing file is kept unless overwriting is allowed.
	if _, err := db.Writer.ExecContext(ctx, `DELETE FROM users WHERE id = 'u0'`); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, src, dst, false); !errors.Is(err, ErrBackupExists) {
		t.Errorf("Backup to an existing file = %v, want ErrBackupExists", err)
	}
	if n := count(dst); n != 100 {
		t.Errorf("a refused backup changed the file: %d users", n)
	}
	if _, err := Backup(ctx, src, dst, true); err != nil {
		t.Fatal(err)
	}
	if n := count(dst); n != 99 {
		t.Errorf("overwritten backup holds %d users, want 99", n)
	}
	if _, err := Backup(ctx, src, src, true); err == nil || !strings.Contains(err.Error(), "one of the database's own files") {
		t.Errorf("Backup onto itself = %v", err)
	}
	if _, err := Backup(ctx, filepath.Join(dir, "none.db"), filepath.Join(dir, "b2.db"), false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Backup of a missing database = %v, want ErrNotExist", err)
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestBackupTrailCases: a backup never leaves a stale trail beside its copy,
// never writes over the live trail, puts back what it replaced when it
// fails partway, and refuses a database whose trail's file is missing.
func TestBackupTrailCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	mustOpen(t, src).Close()

	t.Run("no trail, stale one at the destination", func(t *testing.T) {
		old := filepath.Join(dir, "old.db")
		o, err := open(ctx, old, migrationsUpTo(t, 12), Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.Close()
		dst := filepath.Join(dir, "old-backup.db")
		if err := os.WriteFile(AuditPath(dst), []byte("stale"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Backup(ctx, old, dst, false); !errors.Is(err, ErrBackupExists) || !strings.Contains(err.Error(), AuditPath(dst)) {
			t.Errorf("Backup() = %v, want ErrBackupExists naming the stale trail", err)
		}
		// Overwriting removes it, and puts it back if the backup fails.
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := Backup(ctx, old, dst, true); err == nil {
			t.Fatal("Backup over a directory succeeded")
		}
		if b, err := os.ReadFile(AuditPath(dst)); string(b) != "stale" {
			t.Errorf("after a failed backup the file beside it holds %q, %v", b, err)
		}
		if err := os.Remove(dst); err != nil {
			t.Fatal(err)
		}
		trail, err := Backup(ctx, old, dst, true)
		if err != nil || trail != "" {
			t.Fatalf("Backup(overwrite) = %q, %v, want no trail", trail, err)
		}
		if _, err := os.Stat(AuditPath(dst)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the stale trail is still beside the copy: %v", err)
		}
	})

	t.Run("onto the live trail", func(t *testing.T) {
		before, err := os.ReadFile(AuditPath(src))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Backup(ctx, src, AuditPath(src), true); err == nil || !strings.Contains(err.Error(), "one of the database's own files") {
			t.Errorf("Backup onto the trail's file = %v", err)
		}
		if after, _ := os.ReadFile(AuditPath(src)); string(after) != string(before) {
			t.Error("the trail's file changed")
		}
	})

	t.Run("a failure puts back what was replaced", func(t *testing.T) {
		dst := filepath.Join(dir, "pair.db")
		if _, err := Backup(ctx, src, dst, false); err != nil {
			t.Fatal(err)
		}
		oldTrail, err := os.Stat(AuditPath(dst))
		if err != nil {
			t.Fatal(err)
		}
		// The database's copy cannot be placed over a directory, after the
		// trail's was.
		if err := os.Remove(dst); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := Backup(ctx, src, dst, true); err == nil {
			t.Fatal("Backup over a directory succeeded")
		}
		if fi, err := os.Stat(AuditPath(dst)); err != nil || !os.SameFile(fi, oldTrail) {
			t.Errorf("after the failure the trail's copy is not the one before: %v", err)
		}
		// With no trail's copy there before, the one placed goes again.
		if err := os.Remove(AuditPath(dst)); err != nil {
			t.Fatal(err)
		}
		if _, err := Backup(ctx, src, dst, true); err == nil {
			t.Fatal("Backup over a directory succeeded")
		}
		if _, err := os.Stat(AuditPath(dst)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after the failure a trail's copy is left: %v", err)
		}
	})

	t.Run("trail missing", func(t *testing.T) {
		gone := filepath.Join(dir, "gone.db")
		mustOpen(t, gone).Close()
		if err := os.Remove(AuditPath(gone)); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "gone-backup.db")
		if _, err := Backup(ctx, gone, dst, false); err == nil || !strings.Contains(err.Error(), AuditPath(gone)+", which is missing") {
			t.Errorf("Backup without the trail's file = %v", err)
		}
		if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused backup wrote %s: %v", dst, err)
		}
	})

	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") || strings.HasSuffix(e.Name(), "-wal") && strings.Contains(e.Name(), "backup") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
