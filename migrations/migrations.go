// Package migrations holds the database schema as forward-only, numbered SQL
// files, embedded into the binary so a deployment is one file.
//
// Each file is named NNNN_description.sql, numbered from 0001 without gaps,
// and runs in its own transaction. A file, once released, is never edited:
// a change to the schema is a new file.
package migrations

import "embed"

// FS holds the migration files 0001_*.sql, 0002_*.sql, ... in order.
//
//go:embed *.sql
var FS embed.FS
