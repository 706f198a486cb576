package main

import (
	"context"
	"fmt"
	"io"
)

// runMigrate implements "authsvc migrate": it applies the pending migrations
// to the database file and prints the schema version, and where the audit
// trail went if this run moved it. A missing file is an error unless
// --create is given.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newDBFlags("migrate", "migrate [flags]", withJSON|withCreate, getenv, stderr)
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	db, err := f.open(ctx, true)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(stdout, struct {
			SchemaVersion   int    `json:"schemaVersion"`
			AuditFile       string `json:"auditFile,omitempty"`
			MovedAuditTrail bool   `json:"movedAuditTrail,omitempty"`
		}{v, db.AuditFile(), db.TrailMoved()})
	}
	if _, err := fmt.Fprintf(stdout, "%s: schema version %d\n", redactURL(f.path()), v); err != nil || !db.TrailMoved() {
		return err
	}
	_, err = fmt.Fprintf(stdout, "moved the audit trail into %s\n", db.AuditFile())
	return err
}
