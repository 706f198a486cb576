package sqldb_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// heard records what a listener hears, as "notified <payload>",
// "reconnected" or "disconnected".
type heard chan string

func (h heard) Notified(p string)  { h <- "notified " + p }
func (h heard) Reconnected()       { h <- "reconnected" }
func (h heard) Disconnected(error) { h <- "disconnected" }

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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Listen(ctx, channel, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen = %v, want context.Canceled", err)
		}
	})
	if e := h.next(t); e != "reconnected" {
		t.Fatalf("first event = %q, want reconnected", e)
	}
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

func TestNotifySQLiteIsANoOp(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t)
	notify(t, db, "users", "alice", true)
	if err := db.Listen(context.Background(), "users", make(heard)); err != nil {
		t.Errorf("Listen on SQLite = %v, want nil at once", err)
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
