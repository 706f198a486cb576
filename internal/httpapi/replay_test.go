package httpapi

import (
	"strconv"
	"testing"
)

func TestReplayCache(t *testing.T) {
	t.Parallel()
	c := newReplayCache(1000)
	now := int64(1_800_000_000)
	k := c.key(1, now, "n1")
	if got := c.admit(k, now, now); got != admitted {
		t.Fatalf("first admit = %v", got)
	}
	if got := c.admit(k, now, now+10); got != replayed {
		t.Errorf("second admit = %v, want replayed", got)
	}
	// The same nonce for another app or at another time is another callback.
	if c.key(2, now, "n1") == k || c.key(1, now+1, "n1") == k || c.key(1, now, "n2") == k {
		t.Error("distinct callbacks share a key")
	}
	// Released after a failure, ZIM's retry is welcome.
	c.release(k)
	if got := c.admit(k, now, now+10); got != admitted {
		t.Errorf("admit after release = %v", got)
	}
	// Entries leave once their timestamp is out of the window.
	c.admit(c.key(1, now+100, "n3"), now+100, now+100)
	c.admit(c.key(1, now+200, "n4"), now+200, now+200)
	if n := c.len(); n != 3 {
		t.Fatalf("len = %d, want 3", n)
	}
	c.admit(c.key(1, now+callbackWindow+150, "n5"), now+callbackWindow+150, now+callbackWindow+150)
	if n := c.len(); n != 2 { // n1 and n3 out of the window; n4 and n5 kept
		t.Errorf("len after the window moved = %d, want 2", n)
	}
	if got := c.admit(k, now, now+callbackWindow+150); got != admitted {
		// The handler refuses it as stale first; the cache itself forgot it.
		t.Errorf("admit of n1 after the window = %v", got)
	}
}

// TestReplayCacheCap: at its cap the cache forgets its oldest callbacks
// and refuses, as stale, anything not newer than them, so that memory stays
// bounded and a forgotten nonce can still not be replayed.
func TestReplayCacheCap(t *testing.T) {
	t.Parallel()
	const max = 100
	c := newReplayCache(max)
	now := int64(1_800_000_000)
	for i := range 3 * max {
		ts := now - int64(3*max-i) // older first, all within the window
		if got := c.admit(c.key(1, ts, strconv.Itoa(i)), ts, now); got != admitted {
			t.Fatalf("admit %d = %v", i, got)
		}
		if n := c.len(); n > max {
			t.Fatalf("len = %d, over the cap %d", n, max)
		}
	}
	// The first callbacks were forgotten: replaying one is refused anyway.
	first := now - 3*max
	if got := c.admit(c.key(1, first, "0"), first, now); got != tooOld {
		t.Errorf("replay of a forgotten callback = %v, want tooOld", got)
	}
	// A newer callback still gets in; the newest remembered are replays.
	if got := c.admit(c.key(1, now, "new"), now, now); got != admitted {
		t.Errorf("admit of a new callback at the cap = %v", got)
	}
	last := now - 1
	if got := c.admit(c.key(1, last, strconv.Itoa(3*max-1)), last, now); got != replayed {
		t.Errorf("replay of a remembered callback = %v, want replayed", got)
	}
}
