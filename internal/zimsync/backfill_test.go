package zimsync_test

import (
	"context"
	"fmt"
	"testing"

	"authsvc/internal/sqldb/sqldbtest"
)

// TestBackfill: users that predate sync are enqueued once, in chunks; with
// all, every user is, those already synced included.
func TestBackfill(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, d)
		const n = 2500 // several chunks
		tx, err := e.db.Writer.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = e.db.InsertRows(ctx, tx, "users", []string{"id", "name", "session_epoch", "created_at", "updated_at"}, n,
			func(i int) []any { return []any{fmt.Sprintf("old%05d", i), "n", 1, 0, 0} })
		if err == nil {
			_, err = tx.Exec(`INSERT INTO zim_synced (user_id, app_id, registered, synced_at) VALUES ('old00007', $1, TRUE, 0)`, int64(app))
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}

		got, err := e.ob.Backfill(ctx, app, false)
		if err != nil || got != n-1 {
			t.Fatalf("Backfill = %d, %v; want %d (all but the synced one)", got, err, n-1)
		}
		if l := e.outboxLen(t); l != n-1 {
			t.Errorf("outbox holds %d rows, want %d", l, n-1)
		}
		if got, err := e.ob.Backfill(ctx, app, false); err != nil || got != 0 {
			t.Errorf("second Backfill = %d, %v; want 0: everyone is waiting already", got, err)
		}
		if got, err := e.ob.Backfill(ctx, app, true); err != nil || got != n {
			t.Errorf("Backfill(all) = %d, %v; want %d", got, err, n)
		}
		if l := e.outboxLen(t); l != n {
			t.Errorf("outbox holds %d rows after Backfill(all), want %d", l, n)
		}
	})
}
