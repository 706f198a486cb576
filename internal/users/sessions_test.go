package users

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"authsvc/internal/sqldb/sqldbtest"
)

func TestRevokeSession(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		var now atomic.Int64 // Unix seconds
		now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix())
		s := newStoreOn(t, d, Options{Now: func() time.Time { return time.Unix(now.Load(), 0) }})
		at := func(d time.Duration) time.Time { return time.Unix(now.Load(), 0).Add(d) }

		if got, err := s.SessionRevoked(ctx, "a"); err != nil || got {
			t.Fatalf("SessionRevoked(a) before any revocation = %v, %v; want false, nil", got, err)
		}
		if err := s.RevokeSession(ctx, "a", at(time.Hour)); err != nil {
			t.Fatalf("RevokeSession(a) = %v", err)
		}
		if err := s.RevokeSession(ctx, "a", at(time.Hour)); err != nil {
			t.Fatalf("RevokeSession(a) again = %v", err)
		}
		if got, err := s.SessionRevoked(ctx, "a"); err != nil || !got {
			t.Fatalf("SessionRevoked(a) = %v, %v; want true, nil", got, err)
		}
		if got, err := s.SessionRevoked(ctx, "b"); err != nil || got {
			t.Fatalf("SessionRevoked(b) = %v, %v; want false, nil", got, err)
		}
		if err := s.RevokeSession(ctx, "", at(time.Hour)); err == nil {
			t.Error("RevokeSession with an empty ID succeeded")
		}

		// Once a's token has expired (and the margin passed), the next
		// revocation prunes its row: the list keeps only live sessions.
		if err := s.RevokeSession(ctx, "b", at(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		now.Add(int64((time.Hour + revocationMargin + time.Second) / time.Second))
		if err := s.RevokeSession(ctx, "c", at(time.Hour)); err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := s.db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM revoked_sessions`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 2 {
			t.Errorf("revoked_sessions has %d rows after a's expiry, want 2 (b and c)", rows)
		}
		for id, want := range map[string]bool{"a": false, "b": true, "c": true} {
			if got, err := s.SessionRevoked(ctx, id); err != nil || got != want {
				t.Errorf("SessionRevoked(%s) = %v, %v; want %v", id, got, err, want)
			}
		}
	})
}
