package zimsync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// What the ZIM sync Worker and the KickoutWorker share: their rounds, their
// leases' defaults, the backoff of a row's retries and the pause of an app
// that ZEGO rate-limited.

// Backoff of a row's retries, and of an app that ZEGO rate-limited.
const (
	retryBase     = time.Second
	retryMax      = 10 * time.Minute
	rateLimitBase = time.Second
	rateLimitMax  = 30 * time.Second
	statsEvery    = 5 * time.Second
	maxErrorText  = 200 // bytes of a row's last_error
	// maxUnknownAnswers is how many Unclassified answers in a row park a row:
	// about two hours of ZEGO answering a code we cannot classify.
	maxUnknownAnswers = 20
	defaultLease      = 30 * time.Second
	defaultPoll       = time.Second
)

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// workerID is id, or a random one when empty, to name a worker's leases.
func workerID(id string) string {
	if id != "" {
		return id
	}
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runRounds runs once until ctx ends, at once after a round that had work
// and after poll otherwise; a failing round is logged as msg and tried
// again after poll. It returns nil when ctx ends.
func runRounds(ctx context.Context, clock Clock, poll time.Duration, log *slog.Logger, msg string, once func(context.Context) (int, error)) error {
	for {
		n, err := once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Warn(msg, "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-clock.After(poll):
		}
	}
}

// pauses are the apps that ZEGO rate-limited. The zero value has none.
type pauses struct {
	mu sync.Mutex // rounds are sequential, but tests read it
	m  map[uint32]pause
}

// pause is an app that ZEGO rate-limited: nothing is sent to it until
// until; strikes counts the rate-limited rounds in a row.
type pause struct {
	until   time.Time
	strikes int
}

// until is when appID's pause ends; the zero time if it has none.
func (p *pauses) until(appID uint32) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[appID].until
}

// strike pauses appID after ZEGO rate-limited it, for longer each round
// in a row that was, and returns when the pause ends. Several rate-limited
// rows of one round count as one strike.
func (p *pauses) strike(appID uint32, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[uint32]pause{}
	}
	a := p.m[appID]
	if !now.Before(a.until) { // a new strike, not one of this round's
		a.strikes++
		a.until = now.Add(jitter(backoff(rateLimitBase, rateLimitMax, a.strikes)))
		p.m[appID] = a
	}
	return a.until
}

// clear ends appID's strikes after a round ZEGO did not rate-limit.
func (p *pauses) clear(appID uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, appID)
}

// every says when a periodic chore is due: at the first call, then once d
// has passed since the last time it was.
type every struct {
	d    time.Duration
	mu   sync.Mutex
	last time.Time
}

func (e *every) due(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.last.IsZero() && now.Sub(e.last) < e.d {
		return false
	}
	e.last = now
	return true
}

// retryDelay is the wait before the attempt after attempt failures.
func retryDelay(attempts int) time.Duration {
	return jitter(backoff(retryBase, retryMax, attempts))
}

// backoff is base doubled for every attempt after the first, at most max.
func backoff(base, max time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// jitter returns a random duration in [d/2, d), so that rows that failed
// together, and replicas that were paused together, spread out.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	return half + mrand.N(d-half)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.ToValidUTF8(s, "")
}
