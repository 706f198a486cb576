package users

import (
	"context"
	"testing"
	"time"

	"authsvc/internal/sqldb/sqldbtest"
)

// TestPresence: logins and logouts per session, in any order and repeated,
// end in the state of the newest event of each session; one device logging
// out leaves a user with another device online; unknown users are never
// written; a deleted user's rows go with it.
func TestPresence(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		mustCreate(t, s, CreateParams{ID: "ann"})
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		rec := func(session string, online bool, at time.Time, wantApplied bool) {
			t.Helper()
			got, err := s.RecordPresence(ctx, PresenceEvent{UserID: "ann", AppID: 4_000_000_000, SessionID: session, Online: online, At: at})
			if err != nil || got != wantApplied {
				t.Fatalf("RecordPresence(%s, online %v, %v) = %v, %v; want %v", session, online, at, got, err, wantApplied)
			}
		}
		want := func(online bool, last time.Time) {
			t.Helper()
			p, err := s.Presence(ctx, "ann")
			if err != nil || p.Online != online || !p.LastSeenAt.Equal(last) {
				t.Fatalf("Presence(ann) = %+v, %v; want online %v, last seen %v", p, err, online, last)
			}
		}

		want(false, time.Time{})
		rec("phone", true, t0, true)
		want(true, t0)
		rec("phone", true, t0, false) // the same event again
		rec("laptop", true, t0.Add(time.Second), true)
		rec("phone", false, t0.Add(2*time.Second), true)
		want(true, t0.Add(2*time.Second)) // the laptop is still logged in
		// The phone's login retried after its logout: older, ignored.
		rec("phone", true, t0.Add(time.Millisecond), false)
		rec("laptop", false, t0.Add(3*time.Second), true)
		want(false, t0.Add(3*time.Second))
		// A logout at the very instant of a login wins.
		rec("tablet", true, t0.Add(4*time.Second), true)
		rec("tablet", false, t0.Add(4*time.Second), true)
		rec("tablet", true, t0.Add(4*time.Second), false)
		want(false, t0.Add(4*time.Second))
		// An event older than the last seen time does not move it back.
		rec("watch", true, t0.Add(-time.Hour), true)
		want(true, t0.Add(4*time.Second))

		for _, id := range []string{"bob", "not a valid id"} {
			if applied, err := s.RecordPresence(ctx, PresenceEvent{UserID: id, SessionID: "x", Online: true, At: t0}); err != nil || applied {
				t.Errorf("RecordPresence(unknown %q) = %v, %v; want not applied", id, applied, err)
			}
		}
		var n int
		if err := s.db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM zim_sessions WHERE user_id <> 'ann'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("rows for unknown users: %d, %v", n, err)
		}
		if err := s.Delete(ctx, "ann"); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, CreateParams{ID: "ann"})
		want(false, time.Time{}) // a new ann is not the old one
	})
}

// TestPresencePrunesTombstones: offline sessions are forgotten once they
// are older than any retry of theirs can be, so the table holds the online
// sessions and a few minutes of logouts.
func TestPresencePrunesTombstones(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		s := newStoreOn(t, d, Options{Now: func() time.Time { return now }})
		mustCreate(t, s, CreateParams{ID: "ann"})
		for i, online := range []bool{true, false} {
			if _, err := s.RecordPresence(ctx, PresenceEvent{UserID: "ann", SessionID: "old", Online: online, At: now.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.RecordPresence(ctx, PresenceEvent{UserID: "ann", SessionID: "on", Online: true, At: now}); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			var n int
			if err := s.db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM zim_sessions`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(); n != 2 {
			t.Fatalf("%d rows, want the tombstone and the online session", n)
		}
		now = now.Add(tombstoneTTL + time.Second)
		if _, err := s.RecordPresence(ctx, PresenceEvent{UserID: "ann", SessionID: "new", Online: false, At: now}); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 2 {
			t.Errorf("%d rows after the tombstone's time, want the online session and the new tombstone", n)
		}
		if p, err := s.Presence(ctx, "ann"); err != nil || !p.Online {
			t.Errorf("Presence = %+v, %v; the online session must stay", p, err)
		}
	})
}

// TestPresenceOnlineExpires: a session whose logout never arrived counts as
// online for onlineTTL after its last event, then as offline, and its row
// goes.
func TestPresenceOnlineExpires(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		s := newStoreOn(t, d, Options{Now: func() time.Time { return now }})
		mustCreate(t, s, CreateParams{ID: "ann"})
		if _, err := s.RecordPresence(ctx, PresenceEvent{UserID: "ann", SessionID: "lost", Online: true, At: now}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(onlineTTL - time.Second)
		if p, err := s.Presence(ctx, "ann"); err != nil || !p.Online {
			t.Errorf("Presence within onlineTTL = %+v, %v; want online", p, err)
		}
		now = now.Add(2 * time.Second)
		if p, err := s.Presence(ctx, "ann"); err != nil || p.Online || p.LastSeenAt.IsZero() {
			t.Errorf("Presence after onlineTTL = %+v, %v; want offline, still last seen", p, err)
		}
		if _, err := s.RecordPresence(ctx, PresenceEvent{UserID: "ann", SessionID: "other", Online: false, At: now}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM zim_sessions WHERE session_id = 'lost'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("the lost session's row: %d, %v; want pruned", n, err)
		}
	})
}
