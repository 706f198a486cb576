package users

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// eventWait bounds how long a test waits for the PostgreSQL server to
// deliver a notification or accept a connection: generous, since it is only
// reached when something is broken.
const eventWait = 30 * time.Second

// listenEvents is an observer for Store.Listen: it reports each event, once
// the Store has handled it, as "notified <id>", "reconnected" or
// "disconnected".
type listenEvents chan string

func (e listenEvents) Notified(id string)  { e <- "notified " + id }
func (e listenEvents) Reconnected()        { e <- "reconnected" }
func (e listenEvents) Disconnected(error)  { e <- "disconnected" }
func (e listenEvents) Confirmed(time.Time) {}

// wait reads events until want, failing after eventWait.
func (e listenEvents) wait(tb testing.TB, want string) {
	tb.Helper()
	deadline := time.NewTimer(eventWait)
	defer deadline.Stop()
	for {
		select {
		case got := <-e:
			if got == want {
				return
			}
		case <-deadline.C:
			tb.Fatalf("no %q from the listener within %v", want, eventWait)
		}
	}
}

// replicas returns two Stores on one new PostgreSQL schema, each on its own
// sqldb.DB as two replicas are, and starts b's listener, returning once it
// listens. The listener stops when the test ends.
func replicas(t *testing.T) (a, b *Store, bdb *sqldb.DB, events listenEvents) {
	t.Helper()
	return replicasObserved(t, nil)
}

// atReconnect is an observer that also calls check when the Store has
// handled a reconnection, on the listener's goroutine, before the listener
// does anything more (such as confirm, and so warm the cache).
type atReconnect struct {
	listenEvents
	check func()
}

func (a atReconnect) Reconnected() {
	a.check()
	a.listenEvents.Reconnected()
}

// replicasObserved is replicas, with B's listener observed by
// observe(b, events) when observe is not nil.
func replicasObserved(t *testing.T, observe func(b *Store, events listenEvents) sqldb.ListenHandler) (a, b *Store, bdb *sqldb.DB, events listenEvents) {
	t.Helper()
	dsn := sqldbtest.Dialect{Name: sqldb.Postgres}.DSN(t)
	var err error
	if a, err = NewStore(sqldbtest.OpenPath(t, dsn), Options{Hash: testHash}); err != nil {
		t.Fatal(err)
	}
	bdb = sqldbtest.OpenPath(t, dsn)
	if b, err = NewStore(bdb, Options{Hash: testHash}); err != nil {
		t.Fatal(err)
	}
	events = make(listenEvents, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var h sqldb.ListenHandler = events
	if observe != nil {
		h = observe(b, events)
	}
	go func() { done <- b.Listen(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Listen = %v, want context.Canceled once its context ends", err)
		}
	})
	events.wait(t, "reconnected")
	return a, b, bdb, events
}

// TestListenEvictsOtherReplicasWrites: a user that replica B has cached and
// replica A then disables, changes the password of or deletes is seen so by
// B as soon as A's notification reaches it, long before cacheTTL.
func TestListenEvictsOtherReplicasWrites(t *testing.T) {
	t.Parallel()
	a, b, _, events := replicas(t)
	ctx := context.Background()
	orig := mustCreate(t, a, CreateParams{ID: "alice", Password: "first password"})
	cached := func() User {
		t.Helper()
		u, err := b.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := b.cache.get("alice"); !ok {
			t.Fatal("B's Get did not cache alice")
		}
		return u
	}
	if u := cached(); u.SessionEpoch != orig.SessionEpoch {
		t.Fatalf("B's Get = %+v, want %+v", u, orig)
	}

	off, err := a.SetDisabled(ctx, "alice", true)
	if err != nil {
		t.Fatal(err)
	}
	events.wait(t, "notified alice")
	if u := cached(); !u.Disabled || u.SessionEpoch != off.SessionEpoch {
		t.Errorf("B's Get after A's disable = %+v; want disabled with epoch %d", u, off.SessionEpoch)
	}

	_, pw, err := a.Update(ctx, "alice", Patch{Password: ptr("second password")})
	if err != nil {
		t.Fatal(err)
	}
	events.wait(t, "notified alice")
	if u := cached(); u.SessionEpoch != pw.SessionEpoch {
		t.Errorf("B's Get after A's password change has epoch %d, want %d", u.SessionEpoch, pw.SessionEpoch)
	}

	if err := a.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	events.wait(t, "notified alice")
	if _, err := b.Get(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("B's Get after A's delete = %v, want ErrNotFound", err)
	}
}

// TestListenRolledBackWriteNotifiesNothing: a write that fails notifies no
// one; the next one that commits does, and is the first event heard.
func TestListenRolledBackWriteNotifiesNothing(t *testing.T) {
	t.Parallel()
	a, _, _, events := replicas(t)
	ctx := context.Background()
	mustCreate(t, a, CreateParams{ID: "bob"})
	if err := a.Delete(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete(nobody) = %v", err)
	}
	if _, _, err := a.Update(ctx, "nobody", Patch{Name: ptr("x")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update(nobody) = %v", err)
	}
	if _, err := a.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-events:
		if got != "notified bob" {
			t.Errorf("first event after the failed writes = %q, want %q", got, "notified bob")
		}
	case <-time.After(eventWait):
		t.Fatal("no notification for bob")
	}
}

// TestListenReconnects: the listener's connection killed on the server, B
// shortens its cache's lifetime while it cannot hear, reconnects, empties
// its cache (it may have missed notifications) and hears later writes.
func TestListenReconnects(t *testing.T) {
	t.Parallel()
	// The cache as each reconnection left it: the listener confirms next,
	// which loads the users again.
	left := make(chan int, 10)
	a, b, bdb, events := replicasObserved(t, func(b *Store, events listenEvents) sqldb.ListenHandler {
		return atReconnect{events, func() {
			e, _, _ := cacheState(b.cache)
			left <- e
		}}
	})
	<-left // the first reconnection, at start
	ctx := context.Background()
	mustCreate(t, a, CreateParams{ID: "carol"})
	mustCreate(t, a, CreateParams{ID: "dave"})
	for _, id := range []string{"carol", "dave"} {
		if _, err := b.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	name, err := bdb.ListenerName(ctx, notifyChannel)
	if err != nil {
		t.Fatal(err)
	}
	var killed int
	err = bdb.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM (
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) AS k`, name).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminating the backend named %q: %d killed, %v; want 1", name, killed, err)
	}
	events.wait(t, "disconnected")
	events.wait(t, "reconnected")
	// What B cached is gone: it may have missed notifications meanwhile.
	if e := <-left; e != 0 {
		t.Errorf("after the listener's reconnection the cache holds %d users, want none", e)
	}
	b.cache.mu.RLock()
	ttl := b.cache.ttl
	b.cache.mu.RUnlock()
	if ttl != cacheTTL {
		t.Errorf("cache lifetime after reconnecting = %v, want %v", ttl, cacheTTL)
	}

	// Cached again, then changed by A: heard again.
	if _, err := b.Get(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetDisabled(ctx, "carol", true); err != nil {
		t.Fatal(err)
	}
	events.wait(t, "notified carol")
	if u, err := b.Get(ctx, "carol"); err != nil || !u.Disabled {
		t.Errorf("B's Get after the reconnection and A's disable = %+v, %v; want disabled", u, err)
	}
}

// TestListenDisconnectedShortensTTL: while the listener is down, users
// cached before keep their lifetime and new ones get cacheTTLUnheard; once
// it hears again, the cache is emptied and back to cacheTTL. The bubble's
// clock makes the lifetimes exact.
func TestListenDisconnectedShortensTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newUserCache(DefaultCacheSize)
		l := &listener{s: &Store{cache: c}}
		c.put(User{ID: "before"}, c.generation())
		l.Disconnected(errors.New("connection lost"))
		c.put(User{ID: "during"}, c.generation())
		time.Sleep(cacheTTLUnheard)
		for id, want := range map[string]bool{"before": true, "during": true} {
			if _, ok := c.get(id); ok != want {
				t.Errorf("at cacheTTLUnheard: get(%s) hit = %v, want %v", id, ok, want)
			}
		}
		time.Sleep(time.Nanosecond)
		for id, want := range map[string]bool{"before": true, "during": false} {
			if _, ok := c.get(id); ok != want {
				t.Errorf("past cacheTTLUnheard: get(%s) hit = %v, want %v", id, ok, want)
			}
		}
		time.Sleep(cacheTTL - cacheTTLUnheard)
		synctest.Wait()
		if e, q, _ := cacheState(c); e != 0 || q != 0 {
			t.Errorf("past cacheTTL the cache holds %d entries, %d queued; want none", e, q)
		}

		c.put(User{ID: "again"}, c.generation())
		l.Reconnected()
		if _, ok := c.get("again"); ok {
			t.Error("a user cached while disconnected survived the reconnection")
		}
		c.put(User{ID: "after"}, c.generation())
		time.Sleep(cacheTTL)
		if _, ok := c.get("after"); !ok {
			t.Errorf("after reconnecting, a user cached is gone before cacheTTL")
		}
		l.Notified("after")
		if _, ok := c.get("after"); ok {
			t.Error("a notified user stayed cached")
		}
	})
}

// TestListenHearsAnotherProcess: on a SQLite file, a Store that listens
// hears a write by another Store on the file (the user CLI, another
// process) as soon as it reads the notifications, well within cacheTTL, and
// once confirmed it has loaded every user into its cache, which it then
// uses for as long as it hears: a change made behind the stores' backs, in
// SQL, stays unseen past cacheTTL.
func TestListenHearsAnotherProcess(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authsvc.db")
		server, err := NewStore(sqldbtest.OpenPath(t, path), Options{Hash: testHash})
		if err != nil {
			t.Fatal(err)
		}
		cli, err := NewStore(sqldbtest.OpenPath(t, path), Options{Hash: testHash})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		ids := importUsers(t, cli, 3*MaxListLimit/2)
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- server.Listen(lctx, nil) }()
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Listen = %v, want context.Canceled", err)
			}
		}()
		time.Sleep(time.Second)
		synctest.Wait()
		if e, q, _ := cacheState(server.cache); e != len(ids) || q != 0 {
			t.Fatalf("once listening the cache holds %d users, %d expiring; want all %d, none expiring", e, q, len(ids))
		}

		if _, err := cli.SetDisabled(ctx, ids[0], true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if u, err := server.Get(ctx, ids[0]); err != nil || !u.Disabled {
			t.Errorf("a second after another process disabled it, Get = %+v, %v; want disabled", u, err)
		}

		if _, err := server.db.Writer.ExecContext(ctx, `UPDATE users SET name = 'behind' WHERE id = $1`, ids[1]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * cacheTTL)
		synctest.Wait()
		if u, err := server.Get(ctx, ids[1]); err != nil || u.Name == "behind" {
			t.Errorf("Get = %+v, %v; want the cached user, not the unnotified write", u, err)
		}
	})
}

// TestConcurrentUpdatesLoseNothing: updates of one user racing on many
// connections each see, as their before, the after of exactly one other (or
// the created user): they form one chain, so none was applied on top of a
// state it did not report. Without the row lock, two could read the same
// before.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		const goroutines, perGoroutine = 8, 25
		ctx := context.Background()
		s := newStoreOn(t, d, Options{})
		mustCreate(t, s, CreateParams{ID: "u", ExtendedData: "start"})
		next := map[string]string{} // before's data -> after's data
		var mu sync.Mutex
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range perGoroutine {
					data := fmt.Sprintf("g%d-%d", g, i)
					p := Patch{ExtendedData: &data}
					if i%5 == 0 {
						p.Disabled = ptr(i%10 == 0)
					}
					before, after, err := s.Update(ctx, "u", p)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if prev, dup := next[before.ExtendedData]; dup {
						t.Errorf("two updates saw before %q: one went to %q, one to %q", before.ExtendedData, prev, after.ExtendedData)
					}
					next[before.ExtendedData] = after.ExtendedData
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		chain := []string{"start"}
		for cur := "start"; ; {
			n, ok := next[cur]
			if !ok {
				break
			}
			chain = append(chain, n)
			cur = n
			if len(chain) > goroutines*perGoroutine+1 {
				t.Fatal("the updates form a cycle")
			}
		}
		if len(chain) != goroutines*perGoroutine+1 {
			t.Errorf("the chain of befores and afters holds %d updates, want all %d", len(chain)-1, goroutines*perGoroutine)
		}
		if u, err := s.Get(ctx, "u"); err != nil || u.ExtendedData != chain[len(chain)-1] {
			t.Errorf("Get = %+v, %v; want the chain's last, %q", u, err, chain[len(chain)-1])
		}
	})
}

// TestConcurrentCreateSameID: two replicas creating the same user at once:
// one succeeds, the other gets ErrExists, never an unmapped error.
func TestConcurrentCreateSameID(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		dsn := d.DSN(t)
		var stores [2]*Store
		for i := range stores {
			s, err := NewStore(sqldbtest.OpenPath(t, dsn), Options{Hash: testHash})
			if err != nil {
				t.Fatal(err)
			}
			stores[i] = s
		}
		const rounds = 50
		for r := range rounds {
			id := fmt.Sprintf("same%d", r)
			var errs [2]error
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, s := range stores {
				wg.Go(func() {
					<-start
					_, errs[i] = s.Create(context.Background(), CreateParams{ID: id})
				})
			}
			close(start)
			wg.Wait()
			ok, exists := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrExists):
					exists++
				default:
					t.Fatalf("Create(%q) = %v", id, err)
				}
			}
			if ok != 1 || exists != 1 {
				t.Fatalf("Create(%q) on two replicas: %d created, %d ErrExists; want one each", id, ok, exists)
			}
		}
		if n, err := stores[0].Count(context.Background()); err != nil || n != rounds {
			t.Errorf("Count() = %d, %v; want %d", n, err, rounds)
		}
	})
}

// TestConcurrentImportsOverlap: imports of overlapping users racing on
// several replicas create each user once, report it created by exactly one
// of them, and fail none (no deadlock, no unmapped unique violation).
func TestConcurrentImportsOverlap(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		dsn := d.DSN(t)
		const replicas, users = 4, 300
		var stores []*Store
		for range replicas {
			s, err := NewStore(sqldbtest.OpenPath(t, dsn), Options{Hash: testHash})
			if err != nil {
				t.Fatal(err)
			}
			stores = append(stores, s)
		}
		// Each replica imports every user, in its own order.
		batches := make([][]CreateParams, replicas)
		for r := range batches {
			for _, i := range rand.New(rand.NewPCG(uint64(r), 1)).Perm(users) {
				batches[r] = append(batches[r], CreateParams{ID: fmt.Sprintf("u%03d", i)})
			}
		}
		results := make([][]ImportResult, replicas)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for r, s := range stores {
			wg.Go(func() {
				<-start
				rs, err := s.Import(context.Background(), batches[r])
				if err != nil {
					t.Errorf("replica %d: Import = %v", r, err)
				}
				results[r] = rs
			})
		}
		close(start)
		wg.Wait()
		created := map[string]int{}
		for _, rs := range results {
			for _, res := range rs {
				if res.Status == ImportCreated {
					created[res.ID]++
				}
			}
		}
		for i := range users {
			id := fmt.Sprintf("u%03d", i)
			if created[id] != 1 {
				t.Errorf("%s reported created %d times, want once", id, created[id])
			}
		}
		if n, err := stores[0].Count(context.Background()); err != nil || n != users {
			t.Errorf("Count() = %d, %v; want %d", n, err, users)
		}
		p, err := stores[0].List(context.Background(), ListOptions{Limit: MaxListLimit})
		if err != nil || len(p.Users) != users {
			t.Errorf("List = %d users, %v; want %d", len(p.Users), err, users)
		}
	})
}
