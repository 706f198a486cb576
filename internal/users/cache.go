package users

import (
	"sync"
	"sync/atomic"
	"time"
)

// Cache bounds. A user record read by Get is reused for at most cacheTTL, so
// the token route, which reads the caller's record on every request, does
// not query the database each time.
//
// Writes through a Store evict the user at once, so a disable, a password
// change or a delete through the API (or a CLI command in the same process)
// takes effect on the next request. Writes by another process on the same
// database file, such as "authsvc user disable" while the server runs, are
// seen within cacheTTL. On PostgreSQL, writes by other replicas are heard
// through Store.Listen and evicted as soon as they commit; see listen.go for
// cacheTTLUnheard, the lifetime while the listener is known to be down.
const (
	cacheTTL     = 2 * time.Second
	cacheMaxSize = 100_000

	// cacheShrinkMin is the peak size below which a map is never rebuilt:
	// small maps cost too little to bother.
	cacheShrinkMin = 1024
)

// userCache is Get's cache. Its generation counter closes the race between
// a read and a write: a Get that began reading before a write committed
// must not store what it read after the write evicted the user.
//
// Entries live for ttl, which changes rarely (see setTTL), so the order of
// insertion is, near enough, the order of expiry: order keeps it, and sweeping is popping its front. A put
// sweeps what has expired (amortised O(1)), and a timer, armed only while
// entries exist, sweeps a cache nobody writes to any more, so a burst of
// distinct users is forgotten once it is cacheTTL old. Go maps never shrink,
// so a sweep that leaves the map at a quarter of its peak copies it into a
// new one and lets the old go.
type userCache struct {
	gen atomic.Uint64 // bumped by every write

	mu      sync.RWMutex
	ttl     time.Duration // of new entries: cacheTTL, or cacheTTLUnheard
	entries map[string]cachedUser
	order   []queued // oldest first, from head on
	head    int
	peak    int         // largest len(entries) since the map was made
	timer   *time.Timer // the pending sweep, nil when none is armed
}

type cachedUser struct {
	u       User
	expires time.Time // monotonic
}

// queued is a put, in order. A later put or an evict may have replaced or
// removed the entry it names; it then no longer matches expires.
type queued struct {
	id      string
	expires time.Time
}

func newUserCache() *userCache {
	return &userCache{entries: make(map[string]cachedUser), ttl: cacheTTL}
}

func (c *userCache) get(id string) (User, bool) {
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		return User{}, false
	}
	return e.u, true
}

// generation is read before a database read whose result put may store.
func (c *userCache) generation() uint64 { return c.gen.Load() }

// put stores u, read from the database after generation returned gen,
// unless a write has happened since.
func (c *userCache) put(u User, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	now := time.Now()
	c.sweepLocked(now)
	// Full: drop the oldest. The queue may also hold entries evicted or
	// replaced since; at twice the bound those go first, so it stays bounded.
	for len(c.entries) >= cacheMaxSize || len(c.order)-c.head >= 2*cacheMaxSize {
		c.popLocked()
	}
	e := cachedUser{u: u, expires: now.Add(c.ttl)}
	c.entries[u.ID] = e
	c.order = append(c.order, queued{id: u.ID, expires: e.expires})
	c.peak = max(c.peak, len(c.entries))
	if c.timer == nil {
		c.timer = time.AfterFunc(c.ttl, c.sweep)
	}
}

// evict forgets id after a write to it has committed (or may have).
func (c *userCache) evict(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	delete(c.entries, id)
}

// setTTL gives entries put from now on the lifetime ttl; those cached keep
// theirs. After a shortening, an entry of the new lifetime may expire
// before older ones ahead of it in the queue: get never returns it, and the
// sweep forgets it once those ahead have expired, at most the old lifetime
// later, so memory stays bounded.
func (c *userCache) setTTL(ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ttl = ttl
}

// reset forgets every entry, as evict does one, and gives new ones the
// lifetime ttl, which the queue being empty keeps in order.
func (c *userCache) reset(ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.ttl = ttl
	clear(c.order[c.head:]) // let the IDs go
	c.order, c.head = c.order[:0], 0
	if cap(c.order) > 2*cacheShrinkMin {
		c.order = nil
	}
	if len(c.entries) > 0 {
		c.entries, c.peak = make(map[string]cachedUser), 0
	}
}

// sweep is the timer's: it forgets what has expired and re-arms for the
// oldest entry left, if any.
func (c *userCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.sweepLocked(now)
	if c.head == len(c.order) {
		c.timer = nil
		return
	}
	// Just past the oldest expiry: get treats an entry as live up to and
	// including its expires.
	c.timer = time.AfterFunc(c.order[c.head].expires.Sub(now)+time.Nanosecond, c.sweep)
}

// sweepLocked forgets the entries that expired by now and gives memory back
// when the cache has shrunk a lot. c.mu must be held.
func (c *userCache) sweepLocked(now time.Time) {
	for c.head < len(c.order) && now.After(c.order[c.head].expires) {
		c.popLocked()
	}
	live := len(c.order) - c.head
	switch {
	case live == 0:
		c.order, c.head = c.order[:0], 0
		if cap(c.order) > 2*cacheShrinkMin {
			c.order = nil
		}
	case c.head > live && c.head >= cacheShrinkMin: // mostly dead: copy the rest down
		c.order = append(make([]queued, 0, 2*live), c.order[c.head:]...)
		c.head = 0
	}
	if c.peak >= cacheShrinkMin && len(c.entries) <= c.peak/4 {
		m := make(map[string]cachedUser, len(c.entries))
		for id, e := range c.entries {
			m[id] = e
		}
		c.entries, c.peak = m, len(m)
	}
}

// popLocked drops the oldest queued put, and its entry unless a later put
// replaced it. c.mu must be held.
func (c *userCache) popLocked() {
	q := c.order[c.head]
	c.order[c.head] = queued{} // let the ID go
	c.head++
	if e, ok := c.entries[q.id]; ok && e.expires.Equal(q.expires) {
		delete(c.entries, q.id)
	}
}
