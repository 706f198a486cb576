package users

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/zimsync"
)

// TestOnRevoke wires the RTC room grants in as cmd does, and checks that a
// disable and a delete move the user's unexpired grants into the kick-out
// outbox in their own transaction, that an enable, a disable of a disabled
// user and other changes do not, and that a failing hook rolls the
// revocation back.
func TestOnRevoke(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		db := d.Open(t)
		rooms := zimsync.NewRooms(db, func() time.Time { return now })
		var calls []string
		var fail error
		s, err := NewStore(db, Options{Hash: testHash, Now: new(testClock).Now,
			OnRevoke: func(ctx context.Context, tx *sql.Tx, id string) error {
				calls = append(calls, id)
				if fail != nil {
					return fail
				}
				return rooms.Revoke(ctx, tx, id)
			}})
		if err != nil {
			t.Fatal(err)
		}
		kickouts := func() []string {
			t.Helper()
			rows, err := db.Reader.Query(`SELECT user_id || '@' || room_id FROM rtc_kickouts ORDER BY user_id, room_id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				got = append(got, s)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return got
		}
		grant := func(user, room string, expires time.Time) {
			t.Helper()
			if ok, err := rooms.Grant(ctx, 1234, user, room, expires); err != nil || !ok {
				t.Fatalf("Grant(%s, %s) = %v, %v; want true, nil", user, room, ok, err)
			}
		}
		for _, id := range []string{"alice", "bob", "carol"} {
			mustCreate(t, s, CreateParams{ID: id})
			grant(id, "live", now.Add(time.Hour))
		}
		grant("alice", "old", now.Add(-time.Second)) // expired: nothing to kick

		// Changes that take no access away.
		for _, p := range []Patch{{Name: ptr("Alice")}, {Password: ptr("a long enough password")}, {Disabled: ptr(false)}} {
			if _, _, err := s.Update(ctx, "alice", p); err != nil {
				t.Fatal(err)
			}
		}
		if len(calls) != 0 {
			t.Errorf("OnRevoke called for %v by changes that revoke nothing", calls)
		}

		if _, err := s.SetDisabled(ctx, "alice", true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetDisabled(ctx, "alice", true); err != nil { // already disabled
			t.Fatal(err)
		}
		if _, err := s.SetDisabled(ctx, "alice", false); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "bob"); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"alice", "bob"}, calls); diff != "" {
			t.Errorf("OnRevoke calls (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"alice@live", "bob@live"}, kickouts()); diff != "" {
			t.Errorf("kick-outs (-want +got):\n%s", diff)
		}

		fail = errors.New("hook failed")
		if _, err := s.SetDisabled(ctx, "carol", true); !errors.Is(err, fail) {
			t.Errorf("SetDisabled with a failing hook = %v, want the hook's error", err)
		}
		if err := s.Delete(ctx, "carol"); !errors.Is(err, fail) {
			t.Errorf("Delete with a failing hook = %v, want the hook's error", err)
		}
		if u, err := s.Get(ctx, "carol"); err != nil || u.Disabled {
			t.Errorf("Get(carol) after failed revocations = %+v, %v; want her enabled", u, err)
		}
		fail = nil
		if err := s.Delete(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(nobody) = %v, want ErrNotFound", err)
		}
		if diff := cmp.Diff([]string{"alice@live", "bob@live"}, kickouts()); diff != "" {
			t.Errorf("kick-outs after failed revocations (-want +got):\n%s", diff)
		}
	})
}
