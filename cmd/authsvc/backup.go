package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"authsvc/internal/sqldb"
)

// runBackup implements "authsvc backup --to FILE": a consistent copy of the
// database file and of its audit trail's, taken while a server writes to
// them. It needs nothing but this binary, so it works in the distroless
// image, which has no sqlite3.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newDBFlags("backup", "backup --to FILE [flags]", withJSON, getenv, stderr)
	f.about = "Copies the database consistently, also while a server writes to it (SQLite's VACUUM INTO),\n" +
		"and its audit trail's file (authsvc-audit.db beside authsvc.db) to FILE's (backup-audit.db\n" +
		"beside backup.db). The copies have mode 0600, and FILE is complete or absent. Restore by\n" +
		"stopping the server and replacing both files with the copies (removing any -wal and -shm\n" +
		"files beside them)."
	to := f.fs.String("to", "", "file to write the copy to (required)")
	force := f.fs.Bool("force", false, "replace FILE if it exists")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if *to == "" {
		return f.usageError("--to FILE is required")
	}
	if sqldb.IsPostgresURL(f.path()) {
		return errors.New("backup copies a SQLite file; back up a PostgreSQL database with pg_dump (see the README's \"Running replicas\")")
	}
	if _, err := os.Stat(f.path()); errors.Is(err, fs.ErrNotExist) {
		return f.missing(fmt.Errorf("database %s does not exist", f.path()), "")
	}
	trail, err := sqldb.Backup(ctx, f.path(), *to, *force)
	switch {
	case errors.Is(err, sqldb.ErrBackupExists):
		return fmt.Errorf("%w; pass --force to replace it", err)
	case err != nil:
		return err
	}
	fi, err := os.Stat(*to)
	if err != nil {
		return err
	}
	var trailSize int64 // a database from before the trail had a file of its own has none
	if trail != "" {
		ti, err := os.Stat(trail)
		if err != nil {
			return err
		}
		trailSize = ti.Size()
	}
	if f.json {
		return writeJSON(stdout, struct {
			Database    string `json:"database"`
			Backup      string `json:"backup"`
			Bytes       int64  `json:"bytes"`
			AuditBackup string `json:"auditBackup,omitempty"`
			AuditBytes  int64  `json:"auditBytes,omitempty"`
		}{f.path(), *to, fi.Size(), trail, trailSize})
	}
	if _, err := fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", f.path(), *to, fi.Size()); err != nil || trail == "" {
		return err
	}
	_, err = fmt.Fprintf(stdout, "backed up its audit trail to %s (%d bytes)\n", trail, trailSize)
	return err
}
