package zimsync_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"authsvc/internal/sqldb/sqldbtest"
)

// TestConcurrentGrants: room tokens of one user minted at once, each
// pruning the user's expired grants, all succeed. (Two grants whose prunes
// each waited on the row the other had upserted deadlocked on PostgreSQL.)
func TestConcurrentGrants(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		e := newRTCEnv(t, d.Open(t), newClock())
		e.users(t, []string{"u"}, "a", "b")
		for range 100 {
			if _, err := e.db.Writer.Exec(`UPDATE rtc_grants SET expires_at = 1`); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for j, room := range []string{"a", "b"} {
				wg.Go(func() {
					ok, err := e.rooms.Grant(ctx, app, "u", room, e.clock.Now().Add(time.Hour))
					if err == nil && !ok {
						err = errors.New("refused")
					}
					errs[j] = err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("concurrent grants: %v", err)
			}
		}
	})
}
