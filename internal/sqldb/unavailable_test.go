package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// TestIsUnavailable: a server that went away, or was never there, is
// unavailable; a bad statement or a constraint is not.
func TestIsUnavailable(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t)
		_, err := db.Writer.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`)
		if err == nil || db.IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = true for a missing table", err)
		}
		insert := `INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ('dup', 'x', 1, 0, 0)`
		db.Writer.ExecContext(ctx, insert)
		if _, err := db.Writer.ExecContext(ctx, insert); err == nil || db.IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = true for a unique violation", err)
		}
		if db.IsUnavailable(nil) {
			t.Error("IsUnavailable(nil) = true")
		}
		if d.Name != sqldb.Postgres {
			return
		}
		// The driver's own words for a connection it closed, wrapped as a
		// store wraps them; not any deadline or network error.
		for err, want := range map[error]bool{
			fmt.Errorf("create user: %w", pgconn.ErrConnClosed):     true,
			fmt.Errorf("create user: %w", context.DeadlineExceeded): false,
			errors.New("conn closed"):                               false,
		} {
			if got := db.IsUnavailable(err); got != want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", err, got, want)
			}
		}
		// Every connection of this schema's pool ended by the server, as a
		// restart does: the next query fails, and says unavailable.
		conn, err := db.Writer.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		admin := d.Open(t) // another schema, another pool
		if _, err := admin.Writer.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatal(err)
		}
		_, err = conn.ExecContext(ctx, `SELECT 1`)
		conn.Close()
		if err == nil || !db.IsUnavailable(err) {
			t.Errorf("on a terminated connection: IsUnavailable(%v) = false", err)
		}
		// A server that is not there at all.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		ln.Close()
		_, err = sqldb.Open(ctx, "postgres://postgres@"+dead+"/x?sslmode=disable")
		if err == nil || !db.IsUnavailable(err) || !strings.Contains(err.Error(), dead) {
			t.Errorf("connecting to a closed port: IsUnavailable(%v) = false, or the error does not name %s", err, dead)
		}
	})
}
