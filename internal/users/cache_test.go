package users

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
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
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		s := newStoreOn(t, d, Options{})
		ctx := context.Background()
		u := mustCreate(t, s, CreateParams{ID: "alice", Password: "first password"})
		if _, err := s.Get(ctx, "alice"); err != nil { // now cached
			t.Fatal(err)
		}
		off, err := s.SetDisabled(ctx, "alice", true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "alice")
		if err != nil || !got.Disabled || got.SessionEpoch != off.SessionEpoch || got.SessionEpoch == u.SessionEpoch {
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
	})
}

// TestGetCacheRace hammers Get while another goroutine flips the user's
// state: once a write has returned, no later Get may see the state before it.
func TestGetCacheRace(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		s := newStoreOn(t, d, Options{})
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
	})
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

// cacheState is what the cache holds, read under its lock.
func cacheState(c *userCache) (entries, queued int, m uintptr) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries), len(c.order) - c.head, reflect.ValueOf(c.entries).Pointer()
}

// TestCacheSweepsABurst: after a burst of Gets for distinct users, once
// cacheTTL has passed and nobody calls the store, the cache holds nothing and
// has let go of the map that held the burst (Go maps never shrink, so only a
// new map gives the memory back).
func TestCacheSweepsABurst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := newTestStore(t, Options{})
		ctx := context.Background()
		const n = 3 * MaxImport
		ids := importUsers(t, s, n)
		_, _, before := cacheState(s.cache)
		for _, id := range ids {
			if _, err := s.Get(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		if e, q, _ := cacheState(s.cache); e != n || q != n {
			t.Fatalf("after %d Gets the cache holds %d entries, %d queued; want %d", n, e, q, n)
		}
		time.Sleep(cacheTTL)
		synctest.Wait()
		if e, _, _ := cacheState(s.cache); e != n {
			t.Fatalf("at cacheTTL the cache holds %d entries, want all %d", e, n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		e, q, after := cacheState(s.cache)
		if e != 0 || q != 0 {
			t.Errorf("past cacheTTL the cache holds %d entries, %d queued; want none", e, q)
		}
		if after == before {
			t.Error("the map that held the burst was kept; want a new one")
		}
		s.cache.mu.RLock()
		if s.cache.timer != nil || cap(s.cache.order) > 2*cacheShrinkMin {
			t.Errorf("empty cache keeps timer %v, queue capacity %d", s.cache.timer, cap(s.cache.order))
		}
		s.cache.mu.RUnlock()
		// And it still caches.
		if _, err := s.Get(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}
		if e, _, _ := cacheState(s.cache); e != 1 {
			t.Errorf("after one more Get the cache holds %d entries, want 1", e)
		}
	})
}

// TestCacheSweepKeepsRefreshed: an entry put again after it expired is not
// dropped with its first put's place in the queue, nor is an entry put after
// an evict.
func TestCacheSweepKeepsRefreshed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newUserCache(DefaultCacheSize)
		c.put(User{ID: "a"}, c.generation())
		c.put(User{ID: "b"}, c.generation())
		time.Sleep(cacheTTL / 2)
		c.evict("b")
		c.put(User{ID: "b", Name: "B"}, c.generation())
		time.Sleep(cacheTTL/2 + time.Nanosecond) // a's first put has expired
		if _, ok := c.get("a"); ok {
			t.Fatal("get(a) past cacheTTL hit")
		}
		c.put(User{ID: "a", Name: "A"}, c.generation())
		synctest.Wait()
		for _, id := range []string{"a", "b"} {
			if u, ok := c.get(id); !ok || u.Name != strings.ToUpper(id) {
				t.Errorf("get(%s) = %+v, %v; want the later put", id, u, ok)
			}
		}
		time.Sleep(cacheTTL + time.Nanosecond)
		synctest.Wait()
		if e, q, _ := cacheState(c); e != 0 || q != 0 {
			t.Errorf("the cache holds %d entries, %d queued; want none", e, q)
		}
	})
}

// TestCacheBounded: distinct puts within cacheTTL beyond the cache's size
// keep the newest, and so do evict-and-put cycles on one user, which leave
// stale places in the queue.
func TestCacheBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const cacheMaxSize = 1000
		c := newUserCache(cacheMaxSize)
		for i := range cacheMaxSize + 10 {
			c.put(User{ID: strconv.Itoa(i)}, c.generation())
		}
		if e, q, _ := cacheState(c); e != cacheMaxSize || q != cacheMaxSize {
			t.Errorf("the cache holds %d entries, %d queued; want %d", e, q, cacheMaxSize)
		}
		if _, ok := c.get("9"); ok {
			t.Error("get(9), among the oldest, hit")
		}
		if _, ok := c.get(strconv.Itoa(cacheMaxSize + 9)); !ok {
			t.Error("get of the newest missed")
		}
		for range 2 * cacheMaxSize {
			c.evict("x")
			c.put(User{ID: "x"}, c.generation())
		}
		if _, q, _ := cacheState(c); q > 2*cacheMaxSize {
			t.Errorf("the queue holds %d, more than %d", q, 2*cacheMaxSize)
		}
		if _, ok := c.get("x"); !ok {
			t.Error("get(x) missed")
		}
	})
}

// TestCacheFullOfText: the cache is full once its text budget makes a put
// drop an entry, though it holds fewer entries than its size, until reset.
func TestCacheFullOfText(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const size = 10
		c := newUserCache(size)
		big := strings.Repeat("n", MaxNameLen)
		ext := strings.Repeat("e", 4*cacheTextPerUser)
		put := func(i int) { c.put(User{ID: strconv.Itoa(i), Name: big, ExtendedData: ext}, c.generation()) }
		put(0)
		if c.full() {
			t.Fatal("full after one put")
		}
		i := 1
		for ; !c.full() && i <= size; i++ {
			put(i)
		}
		if e, _, _ := cacheState(c); !c.full() || e >= size || len(c.text)-c.dead > c.maxText() {
			t.Fatalf("after %d puts: full %v, %d entries, %d bytes of text of %d", i, c.full(), e, len(c.text)-c.dead, c.maxText())
		}
		if _, ok := c.get(strconv.Itoa(i - 1)); !ok {
			t.Error("the newest put missed")
		}
		c.reset(cacheTTL)
		if c.full() {
			t.Error("full after reset")
		}
	})
}

// TestCacheHeard: an entry put while the listener's last confirmation is
// at most cacheTTL old is used for as long as confirmations keep coming, up
// to cacheHeardMaxAge, and not past cacheTTL after the last one, nor at all
// once the listener is known to be down; an entry put without a fresh
// confirmation expires; a confirmation after a gap empties the cache.
func TestCacheHeard(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := newUserCache(DefaultCacheSize)
		c.confirm(time.Now())
		c.put(User{ID: "a", Name: "A"}, c.generation())
		for range 10 {
			time.Sleep(time.Second)
			c.confirm(time.Now())
		}
		if u, ok := c.get("a"); !ok || u.Name != "A" {
			t.Fatalf("10 s on, confirmed each second: get(a) = %+v, %v; want the entry", u, ok)
		}
		if _, q, _ := cacheState(c); q != 0 {
			t.Errorf("%d entries queued to expire, want none", q)
		}
		time.Sleep(cacheTTL)
		if _, ok := c.get("a"); !ok {
			t.Error("get(a) missed at cacheTTL after the last confirmation")
		}
		time.Sleep(time.Nanosecond)
		if _, ok := c.get("a"); ok {
			t.Error("get(a) hit past cacheTTL after the last confirmation")
		}
		c.put(User{ID: "b"}, c.generation())
		if _, q, _ := cacheState(c); q != 1 {
			t.Errorf("an entry put unconfirmed: %d queued to expire, want 1", q)
		}
		c.confirm(time.Now())
		if e, _, _ := cacheState(c); e != 0 {
			t.Errorf("a confirmation after a gap left %d entries; want the cache emptied", e)
		}
		c.put(User{ID: "a"}, c.generation())
		c.unconfirm(cacheTTLUnheard)
		if _, ok := c.get("a"); ok {
			t.Error("get(a) hit once the listener is known to be down")
		}
		c.confirm(time.Now())
		c.put(User{ID: "a"}, c.generation())
		for range 10 * 60 {
			time.Sleep(time.Second)
			c.confirm(time.Now())
		}
		if _, ok := c.get("a"); !ok {
			t.Error("get(a) missed at cacheHeardMaxAge")
		}
		time.Sleep(time.Nanosecond)
		if _, ok := c.get("a"); ok {
			t.Error("get(a) hit past cacheHeardMaxAge")
		}
	})
}

// TestCacheKeepsFields: what get returns is what was put, field for
// field, also after the text of evicted entries was copied out; and an ID
// that pads to another's key is not that user.
func TestCacheKeepsFields(t *testing.T) {
	t.Parallel()
	c := newUserCache(DefaultCacheSize)
	created := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	user := func(i int) User {
		return User{ID: fmt.Sprintf("u%d", i), Name: strings.Repeat("n", 100+i%7), AvatarURL: fmt.Sprintf("https://a/%d", i),
			ExtendedData: strings.Repeat("x", i%3), Disabled: i%2 == 0, HasPassword: i%3 == 0, SessionEpoch: int64(i) << 40,
			CreatedAt: created, UpdatedAt: created.Add(time.Duration(i) * time.Microsecond)}
	}
	const n = 2000
	for i := range n {
		c.put(user(i), c.generation())
	}
	for i := 0; i < n; i += 2 {
		c.evict(user(i).ID)
	}
	c.put(user(n), c.generation()) // compacts: half the text is dead
	c.mu.RLock()
	dead, size := c.dead, len(c.text)
	c.mu.RUnlock()
	if dead != 0 || size > n/2*120 {
		t.Errorf("after evicting half, %d bytes of text with %d dead; want it copied out", size, dead)
	}
	for i := 1; i <= n; i += 2 {
		want := user(i)
		if got, ok := c.get(want.ID); !ok || got != want {
			t.Fatalf("get(%s) = %+v, %v; want %+v", want.ID, got, ok, want)
		}
	}
	if _, ok := c.get("u1\x00"); ok {
		t.Error(`get("u1\x00") hit u1's entry`)
	}
	if _, ok := c.get(strings.Repeat("u", MaxIDLen+1)); ok {
		t.Error("get of a too long ID hit")
	}
}

// TestCacheHoldsNoPointers: the cache's entries, keys and queue hold no
// pointers, so the garbage collector never walks them, however many.
func TestCacheHoldsNoPointers(t *testing.T) {
	t.Parallel()
	var walk func(reflect.Type) bool
	walk = func(t reflect.Type) bool {
		switch t.Kind() {
		case reflect.Struct:
			for i := range t.NumField() {
				if !walk(t.Field(i).Type) {
					return false
				}
			}
			return true
		case reflect.Array:
			return walk(t.Elem())
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			return true
		}
		return false
	}
	for _, v := range []any{cacheKey{}, cachedUser{}, queued{}} {
		if !walk(reflect.TypeOf(v)) {
			t.Errorf("%T holds a pointer", v)
		}
	}
}
