package ratelimit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestParseLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Limit
	}{
		{"30/1m", Limit{30, time.Minute}},
		{"30/m", Limit{30, time.Minute}},
		{"5/s", Limit{5, time.Second}},
		{"100/1h", Limit{100, time.Hour}},
		{"2/90s", Limit{2, 90 * time.Second}},
		{"off", Limit{}},
		{"0", Limit{}},
		{"500/d", Limit{500, 24 * time.Hour}},
	}
	for _, tt := range tests {
		got, err := ParseLimit(tt.in, nil)
		if err != nil || got != tt.want {
			t.Errorf("ParseLimit(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
	// A caller's own duration syntax, days for instance.
	days := func(s string) (time.Duration, error) {
		n, ok := strings.CutSuffix(s, "d")
		if !ok {
			return time.ParseDuration(s)
		}
		i, err := strconv.Atoi(n)
		return time.Duration(i) * 24 * time.Hour, err
	}
	if got, err := ParseLimit("100/7d", days); err != nil || got != (Limit{100, 7 * 24 * time.Hour}) {
		t.Errorf("ParseLimit(100/7d, days) = %v, %v", got, err)
	}
	if _, err := ParseLimit("100/7d", nil); err == nil {
		t.Error("ParseLimit(100/7d, nil) succeeded without a parser that knows days")
	}
	for _, bad := range []string{"", "30", "x/1m", "-1/1m", "30/", "30/0s", "30/-1m", "30/fortnight"} {
		if _, err := ParseLimit(bad, nil); err == nil {
			t.Errorf("ParseLimit(%q) succeeded", bad)
		}
	}
}

func TestAllowBurstThenRefill(t *testing.T) {
	t.Parallel()
	l, err := New(Limit{Count: 3, Per: time.Minute}, 10)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("alice", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow("alice", now)
	if ok || retry <= 0 || retry > 20*time.Second {
		t.Fatalf("4th request: ok=%v retry=%v, want refused with retry <= 20s", ok, retry)
	}
	if ok, _ := l.Allow("bob", now); !ok {
		t.Error("one key's limit affected another")
	}
	// A refused request takes no token: after retry, one is allowed.
	if ok, _ := l.Allow("alice", now.Add(retry)); !ok {
		t.Errorf("refused after waiting the advertised %v", retry)
	}
	if ok, _ := l.Allow("alice", now.Add(retry)); ok {
		t.Error("a second request right after the refill was allowed")
	}
}

func TestNewOff(t *testing.T) {
	t.Parallel()
	l, err := New(Limit{}, 10)
	if !errors.Is(err, ErrOff) || l != nil {
		t.Fatalf("New(off) = %v, %v; want nil, ErrOff", l, err)
	}
}

func TestWithClock(t *testing.T) {
	t.Parallel()
	l, err := New(Limit{Count: 2, Per: time.Minute}, 10)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	c := l.WithClock(func() time.Time { return now })
	ctx := context.Background()
	for i := range 2 {
		if ok, _, err := c.Allow(ctx, "k"); !ok || err != nil {
			t.Fatalf("Allow #%d = %v, %v; want true, nil", i+1, ok, err)
		}
	}
	ok, retry, err := c.Allow(ctx, "k")
	if ok || retry != 30*time.Second || err != nil {
		t.Fatalf("Allow #3 = %v, %v, %v; want false, 30s, nil", ok, retry, err)
	}
	now = now.Add(30 * time.Second) // the clock, not the wall, refills
	if ok, _, err := c.Allow(ctx, "k"); !ok || err != nil {
		t.Fatalf("Allow after 30s = %v, %v; want true, nil", ok, err)
	}
}

func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	l, err := New(Limit{Count: 1, Per: time.Hour}, 100)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	l.Allow("hot", now)
	for i := 0; i < 10_000; i++ {
		l.Allow(fmt.Sprintf("ip-%d", i), now)
		if i%50 == 0 {
			l.Allow("hot", now) // keeps "hot" recent, so it is never evicted
		}
	}
	if n := l.Len(); n != 100 {
		t.Errorf("holds %d keys, want the bound 100", n)
	}
	if ok, _ := l.Allow("hot", now); ok {
		t.Error("the recently used key lost its state to eviction")
	}
}

func TestConcurrentAllow(t *testing.T) {
	t.Parallel()
	l, err := New(Limit{Count: 100, Per: time.Hour}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if ok, _ := l.Allow("shared", now); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Errorf("%d of 400 concurrent requests allowed, want exactly the burst of 100", allowed)
	}
}

func BenchmarkAllow(b *testing.B) {
	l, err := New(Limit{Count: 1 << 30, Per: time.Second}, 100_000)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)], now)
			i++
		}
	})
}

// BenchmarkMemory reports the heap a full limiter holds per key: 100,000
// keys, the default cap, of a typical userID's length and of the longest a
// request body could carry. Run it with
// go test -run '^$' -bench Memory ./internal/ratelimit/
func BenchmarkMemory(b *testing.B) {
	const keys = 100_000
	for _, keyLen := range []int{32, 4096} {
		b.Run(fmt.Sprintf("key=%dB", keyLen), func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				perKey = heapPerKey(b, keys, keyLen)
			}
			b.ReportMetric(perKey, "bytes/key")
		})
	}
}

// heapPerKey fills a limiter with n distinct keys of keyLen bytes and
// returns the live heap it added, per key. Each key is built afresh, so only
// what the limiter keeps of it stays live.
func heapPerKey(b *testing.B, n, keyLen int) float64 {
	b.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l, err := New(Limit{Count: 10, Per: time.Minute}, n)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	buf := []byte(strings.Repeat("k", keyLen))
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(buf, uint32(i))
		l.Allow(string(buf), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if l.Len() != n {
		b.Fatalf("limiter holds %d keys, want %d", l.Len(), n)
	}
	runtime.KeepAlive(l)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestMatchesTokenBucket checks the compact bucket against
// golang.org/x/time/rate's token bucket, which the limiter used before, over
// a long random sequence of requests: both must allow and refuse alike.
// Whole-second steps with one token per second keep the reference's float
// arithmetic exact.
func TestMatchesTokenBucket(t *testing.T) {
	t.Parallel()
	const burst = 5
	l, err := New(Limit{Count: burst, Per: burst * time.Second}, 10)
	if err != nil {
		t.Fatal(err)
	}
	ref := map[string]*rate.Limiter{}
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	now := time.Unix(1_800_000_000, 0)
	allowed := 0
	for i := 0; i < 20_000; i++ {
		if rng.IntN(4) == 0 {
			now = now.Add(time.Duration(rng.IntN(4)) * time.Second)
		}
		key := strconv.Itoa(rng.IntN(3))
		if ref[key] == nil {
			ref[key] = rate.NewLimiter(rate.Every(time.Second), burst)
		}
		r := ref[key].ReserveN(now, 1)
		wantWait := r.DelayFrom(now)
		if wantWait > 0 {
			r.CancelAt(now)
		}
		ok, wait := l.Allow(key, now)
		if ok != (wantWait == 0) || wait != wantWait {
			t.Fatalf("request %d for %s: Allow = %v, %v; the token bucket says wait %v", i, key, ok, wait, wantWait)
		}
		if ok {
			allowed++
		}
	}
	if allowed == 0 || allowed == 20_000 {
		t.Fatalf("%d of 20000 allowed: the sequence never exercised both answers", allowed)
	}
}

func TestLongKeysAndEvictionOrder(t *testing.T) {
	t.Parallel()
	l, err := New(Limit{Count: 1, Per: time.Hour}, 3)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	long := strings.Repeat("x", 64<<10)
	keys := []string{long + "a", long + "b", long + "c"} // distinct only at the end
	for _, k := range keys {
		if ok, _ := l.Allow(k, now); !ok {
			t.Fatalf("first request of key %d refused", len(k))
		}
	}
	for i, k := range keys {
		if ok, _ := l.Allow(k, now); ok {
			t.Errorf("second request of key %d allowed: keys share a bucket", i)
		}
	}
	// keys[0] is now the least recently used; a fourth key evicts it, and
	// only it: the others keep their empty buckets.
	l.Allow("d", now)
	if ok, _ := l.Allow(keys[0], now); !ok {
		t.Error("the least recently used key was not the one forgotten")
	}
	// That re-added keys[0] and evicted keys[1], the least recent then.
	if ok, _ := l.Allow(keys[2], now); ok {
		t.Error("a recently used key lost its state")
	}
	if n := l.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
}
