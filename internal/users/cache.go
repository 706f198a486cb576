package users

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Get's cache. The token route reads its user's record on every request,
// and an admin may mint for any of a million users, so the cache can hold
// the whole registry: DefaultCacheSize users, in about 190 bytes each with
// short names, stored without pointers so that the garbage collector never
// walks it (a million cached User values, with their strings, cost a
// seventh of a 1M-user server's CPU in marking alone).
//
// How long an entry may be used depends on whether the Store hears the
// writes that could make it stale:
//
//   - Writes through the Store evict the user at once, so a disable, a
//     password change or a delete through the API (or a CLI command in the
//     same process) takes effect on the next request.
//   - Writes by other processes (other replicas on PostgreSQL, the user CLI
//     on a SQLite file) are heard through Store.Listen, which evicts what
//     they changed as they commit, and confirms at least every second that
//     it has heard everything committed until then (sqldb's Confirmed). An
//     entry put while the last confirmation is at most cacheTTL old is
//     heard: it is used for as long as that stays so, up to
//     cacheHeardMaxAge, and forgotten when evicted, replaced, or pushed out
//     by the size bound. A confirmation after a gap of more than cacheTTL
//     empties the cache, as a reconnection does.
//   - Otherwise (no Listen running, as in a CLI process, or a listener that
//     has stopped confirming) an entry lives cacheTTL from its put, or
//     cacheTTLUnheard while the listener is known to be down (see
//     listen.go).
//
// Either way a write by another process through authsvc is seen within
// cacheTTL: a heard entry stops being used cacheTTL after the last
// confirmation, which came before any write it missed, and is never used
// again once a confirmation was missed.
const (
	cacheTTL = 2 * time.Second

	// cacheHeardMaxAge bounds how long a heard entry is used: a write that
	// notifies nothing (SQL run behind authsvc's back, an older binary
	// beside this one) shows within it. A heard entry past it stays in
	// memory, unused, until its user is read again or the size bound
	// pushes it out.
	cacheHeardMaxAge = 10 * time.Minute

	// DefaultCacheSize is the default bound on the users cached.
	DefaultCacheSize = 1_000_000

	// cacheTextPerUser bounds the text (names, avatar URLs, extended data)
	// the cache holds, as an average per user of its size bound: what does
	// not fit pushes entries out.
	cacheTextPerUser = 256

	// cacheShrinkMin is the peak size below which a map is never rebuilt,
	// and cacheCompactMin the dead text below which the text is never
	// copied: small ones cost too little to bother.
	cacheShrinkMin  = 1024
	cacheCompactMin = 64 << 10
)

// userCache is Get's cache. Its generation counter closes the race between
// a read and a write: a Get that began reading before a write committed
// must not store what it read after the write evicted the user.
//
// Entries that expire (those not heard) live for ttl, which changes rarely
// (see setTTL), so the order of insertion is, near enough, the order of
// expiry: order keeps it, and sweeping is popping its front. A put sweeps
// what has expired (amortised O(1)), and a timer, armed only while such
// entries exist, sweeps a cache nobody writes to any more, so a burst of
// distinct users is forgotten once it is cacheTTL old. Go maps never shrink,
// so a sweep that leaves the map at a quarter of its peak copies it into a
// new one and lets the old go; text whose entries are gone is copied out
// once it is half of the text.
type userCache struct {
	gen   atomic.Uint64 // bumped by every write
	start time.Time     // times below are nanoseconds since start, monotonic
	// confirmed is when the listener last confirmed it had heard every
	// write committed before; far in the past until it does.
	confirmed atomic.Int64

	mu      sync.RWMutex
	size    int           // the most entries; 0 caches nothing
	ttl     time.Duration // of new entries that expire: cacheTTL, or cacheTTLUnheard
	entries map[cacheKey]cachedUser
	text    []byte   // every entry's Name, AvatarURL and ExtendedData
	dead    int      // bytes of text no entry uses
	order   []queued // entries that expire, oldest first, from head on
	head    int
	peak    int         // largest len(entries) since the map was made
	crowded bool        // since reset, a put dropped an entry to make room
	timer   *time.Timer // the pending sweep, nil when none is armed
}

// cacheKey is a user ID, padded with zero bytes. An ID never holds one
// (cacheKeyOf refuses those that do), so no two IDs share a key.
type cacheKey [MaxIDLen]byte

// cacheKeyOf returns id's key, or false for an ID the cache does not hold.
func cacheKeyOf(id string) (cacheKey, bool) {
	var k cacheKey
	if id == "" || len(id) > len(k) || strings.IndexByte(id, 0) >= 0 {
		return k, false
	}
	copy(k[:], id)
	return k, true
}

// cachedUser is a User without pointers: its text is in userCache.text.
type cachedUser struct {
	expires          int64 // cacheHeardMaxAge after the put for a heard entry
	epoch            int64
	created, updated int64  // Unix microseconds
	text             uint32 // offset of Name, then AvatarURL, then ExtendedData
	name, avatar     uint16 // lengths
	ext              uint16
	disabled         bool
	hasPassword      bool
	heard            bool
}

func (e *cachedUser) textLen() int { return int(e.name) + int(e.avatar) + int(e.ext) }

// queued is a put of an entry that expires, in order. A later put or an
// evict may have replaced or removed the entry it names; it then no longer
// matches expires.
type queued struct {
	key     cacheKey
	expires int64
}

func newUserCache(size int) *userCache {
	c := &userCache{entries: make(map[cacheKey]cachedUser), ttl: cacheTTL, size: max(size, 0), start: time.Now()}
	c.confirmed.Store(math.MinInt64 / 2)
	return c
}

func (c *userCache) now() int64 { return int64(time.Since(c.start)) }

// heard reports whether an entry put, or used, at now is heard.
func (c *userCache) heard(now int64) bool {
	return now-c.confirmed.Load() <= int64(cacheTTL)
}

// confirm records the listener's confirmation that every write committed
// before at was heard. One that comes more than cacheTTL after the one
// before ends a spell in which heard entries were not used (a process
// paused, a listener that stalled); notifications may have been missed
// meanwhile, so what was cached goes, as on a reconnection.
func (c *userCache) confirm(at time.Time) {
	t := int64(at.Sub(c.start))
	if old := c.confirmed.Load(); t-old > int64(cacheTTL) {
		c.reset(cacheTTL)
	}
	if t > c.confirmed.Load() {
		c.confirmed.Store(t) // the listener's goroutine is the only writer
	}
}

// unconfirm: the listener is known to hear nothing from now on. Heard
// entries are no longer used, and new ones expire after ttl.
func (c *userCache) unconfirm(ttl time.Duration) {
	c.confirmed.Store(math.MinInt64 / 2)
	c.setTTL(ttl)
}

// full reports whether the cache holds as many users, or as much of their
// text, as it may: it holds the most entries, or a put since the last reset
// had to drop one to make room.
func (c *userCache) full() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.crowded || len(c.entries) >= c.size
}

// putPage puts us, read after generation returned gen, and reports whether
// it did: not if a write has happened since.
func (c *userCache) putPage(us []User, gen uint64) bool {
	for _, u := range us {
		c.put(u, gen)
	}
	return c.gen.Load() == gen
}

func (c *userCache) get(id string) (User, bool) {
	k, ok := cacheKeyOf(id)
	if !ok {
		return User{}, false
	}
	c.mu.RLock()
	e, ok := c.entries[k]
	var text string
	if ok {
		text = string(c.text[e.text : int(e.text)+e.textLen()])
	}
	c.mu.RUnlock()
	if !ok {
		return User{}, false
	}
	if now := c.now(); now > e.expires || e.heard && !c.heard(now) {
		return User{}, false
	}
	a, b := int(e.name), int(e.name)+int(e.avatar)
	return User{
		ID: id, Name: text[:a], AvatarURL: text[a:b], ExtendedData: text[b:],
		Disabled: e.disabled, HasPassword: e.hasPassword, SessionEpoch: e.epoch,
		CreatedAt: time.UnixMicro(e.created).UTC(), UpdatedAt: time.UnixMicro(e.updated).UTC(),
	}, true
}

// generation is read before a database read whose result put may store.
func (c *userCache) generation() uint64 { return c.gen.Load() }

// put stores u, read from the database after generation returned gen,
// unless a write has happened since.
func (c *userCache) put(u User, gen uint64) {
	k, ok := cacheKeyOf(u.ID)
	if !ok || len(u.Name) > math.MaxUint16 || len(u.AvatarURL) > math.MaxUint16 || len(u.ExtendedData) > math.MaxUint16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen || c.size == 0 {
		return
	}
	now := c.now()
	c.sweepLocked(now)
	if old, ok := c.entries[k]; ok {
		c.removeLocked(k, old)
	}
	// Full: drop the oldest that expires, else any. The queue may also
	// hold entries evicted or replaced since; at twice the bound those go
	// first, so it stays bounded.
	need := len(u.Name) + len(u.AvatarURL) + len(u.ExtendedData)
	for len(c.order)-c.head >= 2*c.size {
		c.popLocked()
	}
	for len(c.entries) > 0 && (len(c.entries) >= c.size || len(c.text)-c.dead+need > c.maxText()) {
		c.dropLocked()
		c.crowded = true
	}
	c.compactLocked(need)
	e := cachedUser{
		epoch: u.SessionEpoch, created: u.CreatedAt.UnixMicro(), updated: u.UpdatedAt.UnixMicro(),
		text: uint32(len(c.text)), name: uint16(len(u.Name)), avatar: uint16(len(u.AvatarURL)), ext: uint16(len(u.ExtendedData)),
		disabled: u.Disabled, hasPassword: u.HasPassword,
	}
	c.text = append(append(append(c.text, u.Name...), u.AvatarURL...), u.ExtendedData...)
	if e.heard = c.heard(now); e.heard {
		e.expires = now + int64(cacheHeardMaxAge)
	} else {
		e.expires = now + int64(c.ttl)
		c.order = append(c.order, queued{key: k, expires: e.expires})
		if c.timer == nil {
			c.timer = time.AfterFunc(c.ttl, c.sweep)
		}
	}
	c.entries[k] = e
	c.peak = max(c.peak, len(c.entries))
}

// maxText is the most text the cache holds, which uint32 offsets can reach.
func (c *userCache) maxText() int { return min(c.size*cacheTextPerUser, math.MaxUint32) }

// evict forgets id after a write to it has committed (or may have).
func (c *userCache) evict(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if k, ok := cacheKeyOf(id); ok {
		if e, ok := c.entries[k]; ok {
			c.removeLocked(k, e)
		}
	}
}

// setTTL gives entries put from now on that expire the lifetime ttl; those
// cached keep theirs. After a shortening, an entry of the new lifetime may
// expire before older ones ahead of it in the queue: get never returns it,
// and the sweep forgets it once those ahead have expired, at most the old
// lifetime later, so memory stays bounded.
func (c *userCache) setTTL(ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ttl = ttl
}

// reset forgets every entry, as evict does one, and gives new ones that
// expire the lifetime ttl, which the queue being empty keeps in order.
func (c *userCache) reset(ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.ttl = ttl
	c.order, c.head = c.order[:0], 0
	if cap(c.order) > 2*cacheShrinkMin {
		c.order = nil
	}
	if len(c.entries) > 0 {
		c.entries, c.peak = make(map[cacheKey]cachedUser), 0
	}
	c.text, c.dead = nil, 0
	c.crowded = false
}

// sweep is the timer's: it forgets what has expired and re-arms for the
// oldest entry left that expires, if any.
func (c *userCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.sweepLocked(now)
	if c.head == len(c.order) {
		c.timer = nil
		return
	}
	// Just past the oldest expiry: get treats an entry as live up to and
	// including its expires.
	c.timer = time.AfterFunc(time.Duration(c.order[c.head].expires-now+1), c.sweep)
}

// sweepLocked forgets the entries that expired by now and gives memory back
// when the cache has shrunk a lot. c.mu must be held.
func (c *userCache) sweepLocked(now int64) {
	for c.head < len(c.order) && now > c.order[c.head].expires {
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
		m := make(map[cacheKey]cachedUser, len(c.entries))
		for k, e := range c.entries {
			m[k] = e
		}
		c.entries, c.peak = m, len(m)
	}
	c.compactLocked(0)
}

// compactLocked copies the text of the entries into a new slice once most
// of it is dead, or when need more bytes would take it past what offsets
// reach. c.mu must be held.
func (c *userCache) compactLocked(need int) {
	if len(c.entries) == 0 {
		c.text, c.dead = nil, 0
		return
	}
	if (c.dead < cacheCompactMin || 2*c.dead < len(c.text)) && len(c.text)+need <= math.MaxUint32 {
		return
	}
	text := make([]byte, 0, (len(c.text)-c.dead)*5/4+need)
	for k, e := range c.entries {
		n := e.textLen()
		text = append(text, c.text[e.text:int(e.text)+n]...)
		e.text = uint32(len(text) - n)
		c.entries[k] = e
	}
	c.text, c.dead = text, 0
}

// dropLocked makes room: it pops the oldest queued put, or, when none is
// queued, forgets an entry of the map's choosing. c.mu must be held.
func (c *userCache) dropLocked() {
	if c.head < len(c.order) {
		c.popLocked()
		return
	}
	for k, e := range c.entries {
		c.removeLocked(k, e)
		return
	}
}

// popLocked drops the oldest queued put, and its entry unless a later put
// replaced it. c.mu must be held.
func (c *userCache) popLocked() {
	q := c.order[c.head]
	c.head++
	if e, ok := c.entries[q.key]; ok && !e.heard && e.expires == q.expires {
		c.removeLocked(q.key, e)
	}
}

// removeLocked forgets entry e of key k. c.mu must be held.
func (c *userCache) removeLocked(k cacheKey, e cachedUser) {
	delete(c.entries, k)
	c.dead += e.textLen()
}
