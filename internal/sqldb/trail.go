package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// On SQLite the audit trail lives in a file of its own: every commit to a
// SQLite file makes each other connection to it drop its page cache and its
// mapping of the file at its next read, and the trail commits several times
// a second under token load. In the database's file, each read of a user
// that was not cached then walked the registry's B-trees again through page
// faults. See migrations/sqlite-audit.

// auditFileMigration is the database's migration that drops the trail's
// tables, once open has moved their rows to the trail's file.
const auditFileMigration = "0013_audit_file.sql"

// trailTables are the trail's tables with the columns moveTrail copies, as
// both files name them, and a key column whose highest value, with the row
// count, tells one table's rows from another's (see fingerprint).
// audit_token_blocks's sqlite_sequence row moves too.
var trailTables = []struct{ name, columns, key string }{
	{"audit_events", "id, occurred_at, event, app_id, user_id, actor, client_ip, request_id, expire, nonce, reason, count", "id"},
	{"audit_token_blocks", "id, event, first_at, last_at, events, data", "id"},
	{"audit_token_users", "user_id, last_at, block_id, older", "block_id"},
	{"audit_token_unindexed", "block_id, last_at", "block_id"},
}

// AuditPath returns the path of the file that holds the audit trail of the
// SQLite database at path: "-audit" inserted before the extension, so
// authsvc.db's is authsvc-audit.db, in the same directory.
func AuditPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-audit" + ext
}

// Audit returns the database that holds the audit trail: on SQLite the
// file at AuditPath, opened and closed with db; on PostgreSQL, and on a
// SQLite schema from before the trail moved (tests of old migrations), db
// itself.
func (db *DB) Audit() *DB {
	if db.trail != nil {
		return db.trail
	}
	return db
}

// AuditFile returns the absolute path of the audit trail's own file (see
// AuditPath), or "" when the trail is in the database itself.
func (db *DB) AuditFile() string {
	if db.trail == nil {
		return ""
	}
	return db.trail.path
}

// TrailMoved reports that Open moved the trail of an existing database into
// its own file.
func (db *DB) TrailMoved() bool {
	return db.trail != nil && db.migratedFrom > 0 && db.migratedFrom < db.trailVersion
}

// TrailCreated reports that Open found the audit trail's file missing, for
// a database whose trail had moved there already, and created it empty:
// a backup restored without it, or a deleted file.
func (db *DB) TrailCreated() bool {
	return db.trail != nil && db.trail.created && db.migratedFrom >= db.trailVersion
}

// markTrailCreated records in trail_moved that a trail's file was created
// empty for a database whose trail had moved already (see TrailCreated).
func markTrailCreated(ctx context.Context, trail *DB) error {
	_, err := trail.Writer.ExecContext(ctx, `INSERT INTO trail_moved (moved_at, events, copied) VALUES ($1, 0, 'created empty')`, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("audit trail %s: %w", trail.path, err)
	}
	return nil
}

// moveTrail copies the trail's rows from the database file at registry (an
// absolute path) into trail, the trail's own file, in one transaction
// there, unless an earlier run committed that copy: trail_moved says so,
// and what it copied must be what the database's tables hold now. The
// caller holds the database's write lock, in the transaction of
// auditFileMigration, so no process adds rows meanwhile, and drops the
// tables there once this returns. A crash between the two commits leaves
// the rows in both files, and the next Open only drops them. A trail file
// that holds anything else (another database's trail) is refused, and the
// database's trail stays where it is.
func moveTrail(ctx context.Context, trail *DB, registry string) (err error) {
	conn, err := trail.Writer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("move the audit trail: %w", err)
	}
	defer conn.Close()
	// ATTACH cannot run in a transaction, and the attachment stays with the
	// connection, which goes back to the pool: a connection that could not
	// be detached is discarded instead.
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE $1 AS registry`, registry); err != nil {
		return fmt.Errorf("move the audit trail: %w", err)
	}
	defer func() {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE registry`); derr != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	// Not BEGIN IMMEDIATE, which would take the write lock of the attached
	// file too, the one the caller holds: a deferred transaction, whose
	// first statement takes this file's write lock (waiting, as any
	// writer, up to the busy timeout), before anything is read.
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		return fmt.Errorf("move the audit trail: %w", err)
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		}
	}()
	if _, err := conn.ExecContext(ctx, `DELETE FROM main.trail_moved WHERE 0`); err != nil {
		return fmt.Errorf("move the audit trail: %w", err)
	}
	source, err := fingerprint(ctx, conn, "registry")
	if err != nil {
		return err
	}
	var copied []string
	rows, err := conn.QueryContext(ctx, `SELECT copied FROM main.trail_moved`)
	if err == nil {
		for rows.Next() {
			var c string
			if err = rows.Scan(&c); err != nil {
				break
			}
			copied = append(copied, c)
		}
		err = errors.Join(err, rows.Err(), rows.Close())
	}
	if err != nil {
		return fmt.Errorf("move the audit trail: %w", err)
	}
	switch {
	case len(copied) == 1 && copied[0] == fmt.Sprint(source):
		if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
			return fmt.Errorf("move the audit trail: %w", err)
		}
		return nil
	case len(copied) > 0:
		return fmt.Errorf("move the audit trail: %s holds a trail moved from another database, or from this one before it changed since; move that file away and start again", trail.path)
	}
	here, err := fingerprint(ctx, conn, "main")
	if err != nil {
		return err
	}
	if slices.ContainsFunc(here, func(n int64) bool { return n != 0 }) {
		return fmt.Errorf("move the audit trail: %s holds events that were not moved there; move that file away and start again", trail.path)
	}
	for _, t := range trailTables {
		_, err := conn.ExecContext(ctx, `INSERT INTO main.`+t.name+` (`+t.columns+`) SELECT `+t.columns+` FROM registry.`+t.name)
		if err != nil {
			return fmt.Errorf("move the audit trail: %s: %w", t.name, err)
		}
	}
	// The blocks' IDs, which make their events' IDs, must not start again
	// below those of blocks already pruned.
	_, err = conn.ExecContext(ctx, `DELETE FROM main.sqlite_sequence WHERE name = 'audit_token_blocks'`)
	if err == nil {
		_, err = conn.ExecContext(ctx, `INSERT INTO main.sqlite_sequence (name, seq)
			SELECT name, seq FROM registry.sqlite_sequence WHERE name = 'audit_token_blocks'`)
	}
	if err == nil {
		_, err = conn.ExecContext(ctx, `INSERT INTO main.trail_moved (moved_at, events, copied)
			SELECT $1, (SELECT COUNT(*) FROM main.audit_events) + (SELECT COALESCE(SUM(events), 0) FROM main.audit_token_blocks), $2`,
			time.Now().Unix(), fmt.Sprint(source))
	}
	if err != nil {
		return fmt.Errorf("move the audit trail: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return fmt.Errorf("move the audit trail: commit: %w", err)
	}
	return nil
}

// fingerprint returns, for the trail's tables in schema, each one's row
// count and highest key, then the blocks' AUTOINCREMENT counter: what a copy
// of them must match. All are 0 for empty tables.
func fingerprint(ctx context.Context, conn *sql.Conn, schema string) ([]int64, error) {
	var fp []int64
	for _, t := range trailTables {
		var n, high int64
		err := conn.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(`+t.key+`), 0) FROM `+schema+`.`+t.name).Scan(&n, &high)
		if err != nil {
			return nil, fmt.Errorf("move the audit trail: %s: %w", t.name, err)
		}
		fp = append(fp, n, high)
	}
	var seq int64
	err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM `+schema+`.sqlite_sequence WHERE name = 'audit_token_blocks'`).Scan(&seq)
	if err != nil {
		return nil, fmt.Errorf("move the audit trail: %w", err)
	}
	return append(fp, seq), nil
}
