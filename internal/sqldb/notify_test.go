package sqldb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// heard records what a listener hears, as "notified <payload>",
// "reconnected" or "disconnected".
type heard chan string

func (h heard) Notified(p string)     { h <- "notified " + p }
func (h heard) Reconnected()          { h <- "reconnected" }
func (h heard) Disconnected(error)    { h <- "disconnected" }
func (h heard) Confirmed(_ time.Time) {} // see confirmedAfter

// next returns the next event, failing after a generous bound: the server
// delivers in milliseconds when all is well.
func (h heard) next(tb testing.TB) string {
	tb.Helper()
	select {
	case e := <-h:
		return e
	case <-time.After(30 * time.Second):
		tb.Fatal("the listener heard nothing")
		return ""
	}
}

// listen runs db.Listen on channel until the test ends and returns once it
// listens.
func listen(t *testing.T, db *sqldb.DB, channel string) heard {
	t.Helper()
	h := make(heard, 100)
	startListen(t, db, channel, h, h)
	return h
}

// notify sends payload on channel in a transaction that commits or not.
func notify(t *testing.T, db *sqldb.DB, channel, payload string, commit bool) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := db.Notify(ctx, tx, channel, payload); err != nil {
		t.Fatalf("Notify(%q) = %v", payload, err)
	}
	if commit {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// confirmedAfter is a ListenHandler that sends what it hears, as heard
// does, and "confirmed" for the first confirmation of a time after mark
// (once mark is set).
type confirmedAfter struct {
	heard
	mark atomic.Pointer[time.Time]
}

func (c *confirmedAfter) Confirmed(at time.Time) {
	if m := c.mark.Load(); m != nil && at.After(*m) && c.mark.CompareAndSwap(m, nil) {
		c.heard <- "confirmed"
	}
}

// startListen runs db.Listen with h until the test ends, and returns once
// it listens.
func startListen(t *testing.T, db *sqldb.DB, channel string, h sqldb.ListenHandler, events heard) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Listen(ctx, channel, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen = %v, want context.Canceled", err)
		}
	})
	if e := events.next(t); e != "reconnected" {
		t.Fatalf("first event = %q, want reconnected", e)
	}
}

// TestListenConfirms: on either dialect, a confirmation of a time after a
// commit comes after that commit's notification.
func TestListenConfirms(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		dsn := d.DSN(t)
		writer := sqldbtest.OpenPath(t, dsn)
		c := &confirmedAfter{heard: make(heard, 100)}
		startListen(t, sqldbtest.OpenPath(t, dsn), "users", c, c.heard)
		for _, p := range []string{"one", "two"} {
			notify(t, writer, "users", p, true)
			committed := time.Now()
			c.mark.Store(&committed)
			for _, want := range []string{"notified " + p, "confirmed"} {
				if got := c.next(t); got != want {
					t.Fatalf("after committing %q heard %q, want %q", p, got, want)
				}
			}
		}
	})
}

// TestListenSQLite: on SQLite, a listener hears another connection's
// committed notifications, in commit order, never rolled-back ones, and
// only those of its own channel; it starts after what was there before it.
func TestListenSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authsvc.db")
	writer := sqldbtest.OpenPath(t, path)
	notify(t, writer, "users", "before", true)
	h := listen(t, sqldbtest.OpenPath(t, path), "users")
	notify(t, writer, "users", "rolled back", false)
	notify(t, writer, "apps", "other channel", true)
	notify(t, writer, "users", "one", true)
	notify(t, writer, "users", "two", true)
	for _, want := range []string{"notified one", "notified two"} {
		if got := h.next(t); got != want {
			t.Errorf("heard %q, want %q", got, want)
		}
	}
}

// TestListenSQLiteLoss: rows the listener did not read that are gone (a
// gap in seq, or the newest rows) or a table that went back (a restored
// backup) are a loss:
// the listener says so and starts again, and hears what comes after.
func TestListenSQLiteLoss(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, lose := range map[string][]string{
		"gap": {`INSERT INTO notifications (seq, channel, payload, at)
			SELECT seq + 2, 'users', 'past a gap', 0 FROM sqlite_sequence WHERE name = 'notifications'`},
		"tail":     {`INSERT INTO notifications (channel, payload, at) VALUES ('users', 'deleted unread', 0)`, `DELETE FROM notifications`},
		"restored": {`UPDATE sqlite_sequence SET seq = 0 WHERE name = 'notifications'`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "authsvc.db")
			writer := sqldbtest.OpenPath(t, path)
			h := listen(t, sqldbtest.OpenPath(t, path), "users")
			notify(t, writer, "users", "one", true)
			if got := h.next(t); got != "notified one" {
				t.Fatalf("heard %q, want notified one", got)
			}
			tx, err := writer.Writer.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			for _, q := range append([]string{`DELETE FROM notifications`}, lose...) {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"disconnected", "reconnected"} {
				if got := h.next(t); got != want {
					t.Fatalf("after the loss heard %q, want %q", got, want)
				}
			}
			notify(t, writer, "users", "again", true)
			if got := h.next(t); got != "notified again" {
				t.Errorf("after starting again heard %q, want notified again", got)
			}
		})
	}
}

// TestListenSQLitePrunes: a listener deletes the notifications a minute
// old, and only those.
func TestListenSQLitePrunes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authsvc.db")
	writer := sqldbtest.OpenPath(t, path)
	notify(t, writer, "users", "old", true)
	notify(t, writer, "users", "new", true)
	if _, err := writer.Writer.ExecContext(ctx, `UPDATE notifications SET at = $1 WHERE payload = 'old'`,
		time.Now().Add(-2*time.Minute).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	c := &confirmedAfter{heard: make(heard, 100)}
	started := time.Now()
	c.mark.Store(&started)
	startListen(t, sqldbtest.OpenPath(t, path), "users", c, c.heard)
	// The first round starts a prune beside the reads: look after each
	// confirmation, for a minute of them at most.
	var left []string
	for range 240 {
		if got := c.next(t); got != "confirmed" {
			t.Fatalf("heard %q, want confirmed", got)
		}
		if left = payloads(t, writer); len(left) == 1 && left[0] == "new" {
			return
		}
		now := time.Now()
		c.mark.Store(&now)
	}
	t.Errorf("after a minute of reads the table holds %q; want only the new row", left)
}

// payloads returns the payloads of the notifications table, in order.
func payloads(t *testing.T, db *sqldb.DB) []string {
	t.Helper()
	rows, err := db.Reader.QueryContext(context.Background(), `SELECT payload FROM notifications ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ps []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestListenSQLiteOwnConnection: a SQLite listener starts and keeps
// confirming while requests hold every connection of the reader pool and a
// transaction holds the writer (so that its housekeeping waits).
func TestListenSQLiteOwnConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqldbtest.OpenPath(t, filepath.Join(t.TempDir(), "authsvc.db"))
	for range db.Reader.Stats().MaxOpenConnections {
		conn, err := db.Reader.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	tx, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	c := &confirmedAfter{heard: make(heard, 100)}
	startListen(t, db, "users", c, c.heard)
	for range 3 {
		now := time.Now()
		c.mark.Store(&now)
		if got := c.next(t); got != "confirmed" {
			t.Fatalf("with the pools held, heard %q, want confirmed", got)
		}
	}
}

// TestNotifyListen: a listener hears committed notifications, in commit
// order, never rolled-back ones, and only those of its own channel and
// schema.
func TestNotifyListen(t *testing.T) {
	t.Parallel()
	d := sqldbtest.Dialect{Name: sqldb.Postgres}
	dsn := d.DSN(t)
	writer := sqldbtest.OpenPath(t, dsn)
	h := listen(t, sqldbtest.OpenPath(t, dsn), "users")
	other := d.Open(t) // another schema of the same database
	otherHeard := listen(t, other, "users")

	notify(t, writer, "users", "rolled back", false)
	notify(t, writer, "apps", "other channel", true)
	notify(t, writer, "users", "one", true)
	notify(t, writer, "users", "two", true)
	notify(t, other, "users", "other schema", true)
	for _, want := range []string{"notified one", "notified two"} {
		if got := h.next(t); got != want {
			t.Errorf("heard %q, want %q", got, want)
		}
	}
	if got := otherHeard.next(t); got != "notified other schema" {
		t.Errorf("the other schema's listener heard %q, want only its own", got)
	}

	tx, err := writer.Writer.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := writer.Notify(context.Background(), tx, "users", strings.Repeat("x", sqldb.MaxPayload+1)); err == nil {
		t.Error("Notify with a payload over MaxPayload = nil error")
	}
}

// TestListenReconnectsAfterTermination: a listener whose backend is
// terminated says so, reconnects and hears again.
func TestListenReconnectsAfterTermination(t *testing.T) {
	t.Parallel()
	dsn := sqldbtest.Dialect{Name: sqldb.Postgres}.DSN(t)
	db := sqldbtest.OpenPath(t, dsn)
	h := listen(t, db, "users")
	ctx := context.Background()
	name, err := db.ListenerName(ctx, "users")
	if err != nil || !strings.HasPrefix(name, "authsvc listen ") || len(name) > 63 {
		t.Fatalf("ListenerName = %q, %v", name, err)
	}
	var killed int
	if err := db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM (
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) AS k`, name).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d backends named %q, %v; want 1", killed, name, err)
	}
	for _, want := range []string{"disconnected", "reconnected"} {
		if got := h.next(t); got != want {
			t.Fatalf("after the termination heard %q, want %q", got, want)
		}
	}
	notify(t, db, "users", "again", true)
	if got := h.next(t); got != "notified again" {
		t.Errorf("after reconnecting heard %q, want %q", got, "notified again")
	}
}

// TestListenSQLiteFileReplaced: a listener whose file was deleted confirms
// nothing after that and is disconnected: other processes would write to a
// new file at the path.
func TestListenSQLiteFileReplaced(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authsvc.db")
	c := &confirmedAfter{heard: make(heard, 100)}
	startListen(t, sqldbtest.OpenPath(t, path), "users", c, c.heard)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil {
			t.Fatal(err)
		}
	}
	removed := time.Now()
	c.mark.Store(&removed)
	if got := c.next(t); got != "disconnected" {
		t.Fatalf("after the file was removed heard %q, want disconnected", got)
	}
}

// TestListenNonceLost: a PostgreSQL listener whose confirmations never
// arrive (as behind a pooler in transaction mode, which passes LISTEN but
// no notifications) confirms nothing and counts the connection as lost.
// Here the pool notifies in another schema, whose channels differ.
func TestListenNonceLost(t *testing.T) {
	t.Parallel()
	d := sqldbtest.Dialect{Name: sqldb.Postgres}
	db := sqldbtest.OpenPath(t, d.DSN(t))
	elsewhere := sqldbtest.OpenPath(t, d.DSN(t))
	own := db.Writer
	db.Writer = elsewhere.Writer
	t.Cleanup(func() { db.Writer = own }) // before db closes: cleanups run last first
	c := &confirmedAfter{heard: make(heard, 100)}
	c.mark.Store(&time.Time{})
	startListen(t, db, "users", c, c.heard)
	if got := c.next(t); got != "disconnected" {
		t.Fatalf("with the nonces notified elsewhere heard %q, want disconnected", got)
	}
}
