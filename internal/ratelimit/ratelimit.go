// Package ratelimit limits how often each key (a user, a client IP) may do
// something, with token buckets from golang.org/x/time/rate and a bounded
// number of keys in memory.
//
// Limits are per process: with several replicas each enforces its own.
package ratelimit

import (
	"container/list"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
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

// ParseLimit reads "N/DURATION" (e.g. "30/1m", "5/1s"; "30/m" and "5/s" are
// short for one minute and one second) or "off".
func ParseLimit(s string) (Limit, error) {
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
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("%q is not a limit such as 30/1m or off", s)
	}
	return Limit{Count: count, Per: d}, nil
}

// Limiter holds one token bucket per key, at most maxKeys of them. When it
// is full, the least recently used bucket is forgotten: memory stays bounded
// whatever the number of distinct keys, and a forgotten key merely starts
// again with a full bucket. Safe for concurrent use.
type Limiter struct {
	limit   Limit
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*list.Element
	lru     list.List // front = most recently used; values are *bucket
}

type bucket struct {
	key string
	lim *rate.Limiter
}

// New returns a limiter; it returns nil for a limit that is off, and a nil
// *Limiter allows everything.
func New(limit Limit, maxKeys int) (*Limiter, error) {
	if limit.Off() {
		return nil, nil
	}
	if limit.Per <= 0 {
		return nil, errors.New("rate limit period must be positive")
	}
	if maxKeys <= 0 {
		return nil, errors.New("rate limiter needs room for at least one key")
	}
	return &Limiter{limit: limit, maxKeys: maxKeys, buckets: make(map[string]*list.Element)}, nil
}

// Allow takes one token from key's bucket at time now. When none is left it
// returns false and how long until one will be.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if el, found := l.buckets[key]; found {
		l.lru.MoveToFront(el)
		b = el.Value.(*bucket)
	} else {
		if l.lru.Len() >= l.maxKeys {
			oldest := l.lru.Back()
			l.lru.Remove(oldest)
			delete(l.buckets, oldest.Value.(*bucket).key)
		}
		every := rate.Every(l.limit.Per / time.Duration(l.limit.Count))
		b = &bucket{key: key, lim: rate.NewLimiter(every, l.limit.Count)}
		l.buckets[key] = l.lru.PushFront(b)
	}
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len reports how many keys are held, for tests and metrics.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
