package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
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
	}
	for _, tt := range tests {
		got, err := ParseLimit(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLimit(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "30", "x/1m", "-1/1m", "30/", "30/0s", "30/-1m", "30/fortnight"} {
		if _, err := ParseLimit(bad); err == nil {
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

func TestNilLimiterAllowsAll(t *testing.T) {
	t.Parallel()
	l, err := New(Limit{}, 10)
	if err != nil || l != nil {
		t.Fatalf("New(off) = %v, %v; want nil, nil", l, err)
	}
	for i := 0; i < 1000; i++ {
		if ok, _ := l.Allow("k", time.Now()); !ok {
			t.Fatal("an off limit refused")
		}
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
