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
// seen within cacheTTL.
const (
	cacheTTL     = 2 * time.Second
	cacheMaxSize = 100_000
)

// userCache is Get's cache. Its generation counter closes the race between
// a read and a write: a Get that began reading before a write committed
// must not store what it read after the write evicted the user.
type userCache struct {
	gen atomic.Uint64 // bumped by every write

	mu      sync.RWMutex
	entries map[string]cachedUser
}

type cachedUser struct {
	u       User
	expires time.Time // monotonic
}

func newUserCache() *userCache {
	return &userCache{entries: make(map[string]cachedUser)}
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
	if len(c.entries) >= cacheMaxSize {
		for id := range c.entries { // evict an arbitrary entry: map order is random
			delete(c.entries, id)
			break
		}
	}
	c.entries[u.ID] = cachedUser{u: u, expires: time.Now().Add(cacheTTL)}
}

// evict forgets id after a write to it has committed (or may have).
func (c *userCache) evict(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	delete(c.entries, id)
}
