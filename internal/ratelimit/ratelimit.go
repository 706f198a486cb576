// Package ratelimit limits how often each key (a user, a client IP) may do
// something, with a token bucket per key and a bounded number of keys in
// memory.
//
// Limits are per process: with several replicas each enforces its own.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limit is a sustained rate with a burst: Count events per Per on average,
// and up to Count at once. The zero Limit means no limit.
type Limit struct {
	Count int
	Per   time.Duration
}

// Off reports whether the limit is switched off.
func (l Limit) Off() bool { return l.Count <= 0 }

func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.Count) + "/" + l.Per.String()
}

// ParseLimit reads "N/DURATION" (e.g. "30/1m", "5/1s"; "30/m", "5/s" and
// "500/d" are short for one minute, second and day) or "off". DURATION is
// read by parseDuration, time.ParseDuration when nil, so a program can take
// the duration syntax of its other settings here too.
func ParseLimit(s string, parseDuration func(string) (time.Duration, error)) (Limit, error) {
	if parseDuration == nil {
		parseDuration = time.ParseDuration
	}
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Limit{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count <= 0 {
		return Limit{}, fmt.Errorf("%q is not a limit such as 30/1m or off", s)
	}
	switch per {
	case "s":
		per = "1s"
	case "m":
		per = "1m"
	case "h":
		per = "1h"
	case "d":
		per = "24h"
	}
	d, err := parseDuration(per)
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("%q is not a limit such as 30/1m or off", s)
	}
	return Limit{Count: count, Per: d}, nil
}

// Limiter holds one token bucket per key, at most maxKeys of them. When it
// is full, the least recently used bucket is forgotten: memory stays bounded
// whatever the number of distinct keys, and a forgotten key merely starts
// again with a full bucket. Safe for concurrent use.
//
// A key is kept as a 64-bit hash, never as the string, so each key costs
// the same few dozen bytes however long it is (see BenchmarkMemory). The
// hash is seeded at random per limiter: two keys share a bucket with a
// chance of about 2^-64, and nobody outside the process can choose keys
// that collide.
type Limiter struct {
	interval time.Duration // between two tokens: Per / Count
	burst    time.Duration // Count intervals: how far ahead a key may draw
	maxKeys  int
	seed     maphash.Seed

	mu    sync.Mutex
	index map[uint64]int32 // key hash -> position in slots
	slots []slot
	head  int32 // most recently used slot; -1 when empty
	tail  int32 // least recently used slot; -1 when empty
}

// slot is one key's bucket, kept as the time at which its bucket would be
// full again (GCRA, the "generic cell rate algorithm"): one int64 carries
// what a token count and a last-refill time would. The slots form a doubly
// linked LRU list by index, which costs no pointers for the GC to scan.
type slot struct {
	hash       uint64
	full       int64 // Unix ns at which the bucket is full again; 0 = full
	prev, next int32
}

// ErrOff is New's error for a limit that is off: there is nothing to
// count, and the caller represents "no limit" its own way.
var ErrOff = errors.New("rate limit is off")

// New returns a limiter for limit, which must not be off (see ErrOff).
func New(limit Limit, maxKeys int) (*Limiter, error) {
	if limit.Off() {
		return nil, ErrOff
	}
	if limit.Per <= 0 {
		return nil, errors.New("rate limit period must be positive")
	}
	if maxKeys <= 0 || maxKeys > math.MaxInt32 {
		return nil, fmt.Errorf("rate limiter needs room for 1 to %d keys, got %d", math.MaxInt32, maxKeys)
	}
	interval := max(limit.Per/time.Duration(limit.Count), 1)
	return &Limiter{
		interval: interval,
		burst:    interval * time.Duration(limit.Count),
		maxKeys:  maxKeys,
		seed:     maphash.MakeSeed(),
		index:    make(map[uint64]int32),
		head:     -1,
		tail:     -1,
	}, nil
}

// Allow takes one token from key's bucket at time now. When none is left it
// returns false and how long until one will be; a refused request takes
// nothing.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	h := maphash.String(l.seed, key)
	t := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	i, found := l.index[h]
	if found {
		l.unlink(i)
	} else {
		i = l.claim(h)
	}
	l.pushFront(i)
	s := &l.slots[i]
	// Each token moves the time the bucket is full again one interval
	// later; a bucket that would be full more than a burst from now is empty.
	full := max(s.full, t) + int64(l.interval)
	if wait := full - t - int64(l.burst); wait > 0 {
		return false, time.Duration(wait)
	}
	s.full = full
	return true, 0
}

// claim returns an unlinked slot for hash with a full bucket: a new one
// while there is room, else the least recently used one, forgotten.
func (l *Limiter) claim(hash uint64) int32 {
	var i int32
	if len(l.slots) < l.maxKeys {
		i = int32(len(l.slots))
		l.slots = append(l.slots, slot{})
	} else {
		i = l.tail
		l.unlink(i)
		delete(l.index, l.slots[i].hash)
	}
	l.slots[i] = slot{hash: hash, prev: -1, next: -1}
	l.index[hash] = i
	return i
}

func (l *Limiter) unlink(i int32) {
	s := &l.slots[i]
	if s.prev >= 0 {
		l.slots[s.prev].next = s.next
	} else {
		l.head = s.next
	}
	if s.next >= 0 {
		l.slots[s.next].prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = -1, -1
}

func (l *Limiter) pushFront(i int32) {
	s := &l.slots[i]
	s.prev, s.next = -1, l.head
	if l.head >= 0 {
		l.slots[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

// Len reports how many keys are held, for tests and metrics.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.index)
}

// Clocked is a Limiter that reads the time from a clock, in the shape of a
// limiter that may live elsewhere (a shared store) and so may fail: this one
// never does.
type Clocked struct {
	l   *Limiter
	now func() time.Time
}

// WithClock returns l reading the time from now.
func (l *Limiter) WithClock(now func() time.Time) Clocked { return Clocked{l: l, now: now} }

// Allow is Limiter.Allow at the clock's time; its error is always nil.
func (c Clocked) Allow(_ context.Context, key string) (ok bool, retryAfter time.Duration, err error) {
	ok, retryAfter = c.l.Allow(key, c.now())
	return ok, retryAfter, nil
}
