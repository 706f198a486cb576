package httpapi

import (
	"container/heap"
	"hash/maphash"
	"strconv"
	"sync"
)

// Callback freshness. ZIM's callbacks are signed over a timestamp and a
// nonce but not over the body, so a captured signature could be replayed
// with another body: each (app, timestamp, nonce) is accepted once, and
// only while its timestamp is within callbackWindow of our clock.
const (
	callbackWindow = 5 * 60 // seconds, either side of our clock

	// maxReplayEntries caps the nonces remembered, about 40 bytes each
	// (20 MB at the cap). A window holds 300,000 callbacks at 1,000 a
	// second; past the cap the oldest is forgotten and the window closes
	// behind it (see replayCache.floor), so a flood shortens how old a
	// callback may be but never lets a replay through.
	maxReplayEntries = 500_000
)

// replayCache remembers the callbacks accepted within the window. Only
// callbacks whose signature verified enter it, so its size follows ZIM's
// traffic, never a stranger's; it is bounded in any case by max, and
// entries leave it once their timestamp falls out of the window.
type replayCache struct {
	seed maphash.Seed
	max  int

	mu    sync.Mutex
	seen  map[uint64]int64 // key → timestamp
	order replayHeap       // by timestamp, oldest first; may hold released keys
	// floor is the newest timestamp forgotten early, at the cap: a
	// callback no newer than it might be a replay of what was forgotten,
	// and is refused as stale.
	floor int64
}

func newReplayCache(max int) *replayCache {
	return &replayCache{seed: maphash.MakeSeed(), max: max, seen: make(map[uint64]int64), floor: -1 << 63}
}

// replayVerdict is what admit decided.
type replayVerdict int

const (
	admitted replayVerdict = iota
	replayed
	tooOld // forgotten at the cap: cannot tell, so refused
)

// key names a callback. Hashing with a per-process random seed keeps
// entries small whatever a nonce holds; a collision, which would refuse a
// callback as replayed, takes about 2^32 callbacks within one window.
func (c *replayCache) key(app uint32, ts int64, nonce string) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	var buf [24]byte
	b := strconv.AppendUint(buf[:0], uint64(app), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, ' ')
	h.Write(b)
	h.WriteString(nonce)
	return h.Sum64()
}

// admit records the callback (app, ts, nonce) unless it was seen within
// the window; now is our clock in Unix seconds, and ts must already be
// within the window of it.
func (c *replayCache) admit(key uint64, ts, now int64) replayVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && c.order[0].ts < now-callbackWindow {
		c.pop()
	}
	if ts <= c.floor {
		return tooOld
	}
	if _, ok := c.seen[key]; ok {
		return replayed
	}
	for len(c.order) >= c.max {
		e := c.pop()
		c.floor = max(c.floor, e.ts)
		if ts <= c.floor {
			return tooOld
		}
	}
	c.seen[key] = ts
	heap.Push(&c.order, replayEntry{ts: ts, key: key})
	return admitted
}

// release forgets a callback admit recorded whose handling failed, so that
// ZIM's retry of it is not refused as a replay.
func (c *replayCache) release(key uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, key)
}

// pop drops the oldest entry, and its key unless release already did.
func (c *replayCache) pop() replayEntry {
	e := heap.Pop(&c.order).(replayEntry)
	if ts, ok := c.seen[e.key]; ok && ts == e.ts {
		delete(c.seen, e.key)
	}
	return e
}

// len is how many callbacks are remembered.
func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

type replayEntry struct {
	ts  int64
	key uint64
}

type replayHeap []replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].ts < h[j].ts }
func (h replayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *replayHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
