// Package migrations holds the database schema as forward-only, numbered SQL
// files, one directory per SQL dialect, embedded into the binary so a
// deployment is one file.
//
// Each file is named NNNN_description.sql, numbered from 0001 without gaps,
// and runs in its own transaction. A file, once released, is never edited:
// a change to the schema is a new file. Every dialect has the same numbers
// and names, so a schema version means the same thing on each.
//
// On SQLite the audit trail has a file of its own, with its own numbered
// migrations in sqlite-audit; from 0013 on, the database's file has none
// of the trail's tables.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql sqlite-audit/*.sql postgres/*.sql
var files embed.FS

// SQLite returns the SQLite migrations 0001_*.sql, 0002_*.sql, ... in order.
func SQLite() fs.FS {
	sub, err := fs.Sub(files, "sqlite")
	if err != nil {
		panic(err) // unreachable: "sqlite" is a valid path
	}
	return sub
}

// Postgres returns the PostgreSQL migrations, numbered and named as SQLite's.
func Postgres() fs.FS {
	sub, err := fs.Sub(files, "postgres")
	if err != nil {
		panic(err) // unreachable: "postgres" is a valid path
	}
	return sub
}

// SQLiteAudit returns the migrations of the audit trail's own SQLite file.
func SQLiteAudit() fs.FS {
	sub, err := fs.Sub(files, "sqlite-audit")
	if err != nil {
		panic(err) // unreachable: "sqlite-audit" is a valid path
	}
	return sub
}
