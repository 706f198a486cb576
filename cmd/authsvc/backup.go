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
// database file, taken while a server writes to it. It needs nothing but
// this binary, so it works in the distroless image, which has no sqlite3.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newDBFlags("backup", "backup --to FILE [flags]", true, getenv, stderr)
	f.about = "Copies the database consistently, also while a server writes to it (SQLite's VACUUM INTO).\n" +
		"The copy has mode 0600 and is complete or absent. Restore by stopping the server and\n" +
		"replacing the database file with the copy (removing any -wal and -shm files beside it)."
	to := f.fs.String("to", "", "file to write the copy to (required)")
	force := f.fs.Bool("force", false, "replace FILE if it exists")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if *to == "" {
		return f.usageError("--to FILE is required")
	}
	if f.create {
		return f.usageError("--create makes no sense here: there is nothing to back up in a new database")
	}
	if sqldb.IsPostgresURL(f.path()) {
		return errors.New("backup copies a SQLite file; back up a PostgreSQL database with pg_dump (see the README's \"Running replicas\")")
	}
	if _, err := os.Stat(f.path()); errors.Is(err, fs.ErrNotExist) {
		return f.missing(fmt.Errorf("database %s does not exist", f.path()), "")
	}
	err := sqldb.Backup(ctx, f.path(), *to, *force)
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
	if f.json {
		return writeJSON(stdout, struct {
			Database string `json:"database"`
			Backup   string `json:"backup"`
			Bytes    int64  `json:"bytes"`
		}{f.path(), *to, fi.Size()})
	}
	_, err = fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", f.path(), *to, fi.Size())
	return err
}
