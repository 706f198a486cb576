package users

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"authsvc/internal/sqldb/sqldbtest"
)

// TestGetSeesWritesAtOnce: whatever Get cached, a write through the Store is
// visible to the next Get.
func TestGetSeesWritesAtOnce(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := context.Background()
	u := mustCreate(t, s, CreateParams{ID: "alice", Password: "first password"})
	if _, err := s.Get(ctx, "alice"); err != nil { // now cached
		t.Fatal(err)
	}
	d, err := s.SetDisabled(ctx, "alice", true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "alice")
	if err != nil || !got.Disabled || got.SessionEpoch != d.SessionEpoch || got.SessionEpoch == u.SessionEpoch {
		t.Errorf("Get after disable = %+v, %v", got, err)
	}
	pw := "second password"
	_, p, err := s.Update(ctx, "alice", Patch{Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "alice"); got.SessionEpoch != p.SessionEpoch {
		t.Errorf("Get after a password change has epoch %d, want %d", got.SessionEpoch, p.SessionEpoch)
	}
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after delete = %v, want ErrNotFound", err)
	}
}

// TestGetCacheRace hammers Get while another goroutine flips the user's
// state: once a write has returned, no later Get may see the state before it.
func TestGetCacheRace(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, CreateParams{ID: "bob"})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Get(ctx, "bob"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 50 {
		want := i%2 == 0
		w, err := s.SetDisabled(ctx, "bob", want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "bob")
		if err != nil || got.Disabled != want || got.SessionEpoch != w.SessionEpoch {
			t.Fatalf("write %d: Get = %+v, %v; want disabled=%v epoch %d", i, got, err, want, w.SessionEpoch)
		}
	}
	close(stop)
	wg.Wait()
}

// TestGetSeesOtherProcessesWithinTTL: a write by another Store on the same
// file (another process, as the user CLI is) shows once cacheTTL has passed,
// and not before: the cache does spare the database those reads. The bubble's
// clock moves only when the test sleeps, so the machine's load cannot blur
// either side of the bound.
func TestGetSeesOtherProcessesWithinTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		db := sqldbtest.Open(t)
		a, err := NewStore(db, Options{Hash: testHash})
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewStore(db, Options{Hash: testHash})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		mustCreate(t, a, CreateParams{ID: "carol"})
		if _, err := a.Get(ctx, "carol"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.SetDisabled(ctx, "carol", true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(cacheTTL - time.Millisecond)
		if u, err := a.Get(ctx, "carol"); err != nil || u.Disabled {
			t.Errorf("Get before cacheTTL passed = %+v, %v; want the cached, enabled carol", u, err)
		}
		time.Sleep(time.Millisecond + time.Nanosecond)
		if u, err := a.Get(ctx, "carol"); err != nil || !u.Disabled {
			t.Errorf("Get after cacheTTL = %+v, %v; want the other store's write, carol disabled", u, err)
		}
	})
}
