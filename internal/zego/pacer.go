package zego

import (
	"context"
	"sync"
	"time"
)

// pacer spaces calls evenly: at most one per interval, so never more than
// rate calls in any second. It hands out start times in order, so waiting
// callers go in the order they asked. It reads the clock through time.Now
// and sleeps on time timers, which testing/synctest replaces.
type pacer struct {
	interval time.Duration

	mu   sync.Mutex
	next time.Time // the earliest start of the next call
}

func newPacer(rate int) *pacer { return &pacer{interval: time.Second / time.Duration(rate)} }

// wait blocks until the caller may start its call, or ctx ends. A slot
// given up by a cancelled wait is not handed back: the next caller starts
// an interval later than it could have, which stays within the limit.
func (p *pacer) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	p.mu.Lock()
	start := p.next
	if start.Before(now) {
		start = now
	}
	p.next = start.Add(p.interval)
	p.mu.Unlock()

	return sleep(ctx, start.Sub(now))
}

// sleep waits d, or until ctx ends and returns its error.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hold lets no call start before d from now.
func (p *pacer) hold(d time.Duration) {
	until := time.Now().Add(d)
	p.mu.Lock()
	if p.next.Before(until) {
		p.next = until
	}
	p.mu.Unlock()
}
