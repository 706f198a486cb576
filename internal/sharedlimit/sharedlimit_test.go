package sharedlimit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authsvc/internal/ratelimit"
	"authsvc/internal/redistest"
	"authsvc/internal/sharedlimit"
	"authsvc/internal/testlog"
)

// testOptions are the options of the test Redis; at addr (host:port)
// instead when addr is not empty, the password and database kept.
func testOptions(t *testing.T, addr string) *redis.Options {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		opt.Addr = addr
	}
	return opt
}

// newRedis returns a Redis reached with opt, with the test's prefix.
func newRedis(t *testing.T, opt *redis.Options, prefix string, o sharedlimit.Options) *sharedlimit.Redis {
	t.Helper()
	o.Prefix = prefix
	if o.Timeout == 0 {
		// Far above the default: a loaded machine must not make a test
		// that expects Redis to answer see a timeout and fall back.
		o.Timeout = 10 * time.Second
	}
	r := sharedlimit.New(opt, o)
	t.Cleanup(func() { r.Close() })
	return r
}

func mustLimiter(t *testing.T, r *sharedlimit.Redis, name string, l ratelimit.Limit) *sharedlimit.Limiter {
	t.Helper()
	lim, err := r.Limiter(name, l)
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

// allowed counts how many of n requests for key l allows, and returns the
// last refusal's retryAfter.
func allowed(t *testing.T, l *sharedlimit.Limiter, key string, n int) (count int, retry time.Duration) {
	t.Helper()
	for range n {
		ok, r, err := l.Allow(context.Background(), key)
		if err != nil {
			t.Fatalf("Allow(%q) error %v", key, err)
		}
		if ok {
			count++
		} else {
			retry = r
		}
	}
	return count, retry
}

// TestSharedBurst: a 10/1m limit lets 10 through at once and then refuses,
// saying when to come back; keys and limits count apart; two replicas (two
// clients) draw on one bucket.
func TestSharedBurst(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	a := newRedis(t, testOptions(t, ""), prefix, sharedlimit.Options{})
	b := newRedis(t, testOptions(t, ""), prefix, sharedlimit.Options{})
	limit := ratelimit.Limit{Count: 10, Per: time.Minute}
	la := mustLimiter(t, a, "login_user", limit)
	lb := mustLimiter(t, b, "login_user", limit)

	if n, retry := allowed(t, la, "alice", 12); n != 10 || retry <= 0 || retry > 6*time.Second+time.Millisecond*100 {
		t.Errorf("12 requests for alice: %d allowed, retryAfter %v; want 10, 0 < retryAfter <= 6s", n, retry)
	}
	if n, _ := allowed(t, lb, "alice", 3); n != 0 {
		t.Errorf("the other replica allowed %d requests for alice after the burst, want 0", n)
	}
	// Two replicas share one bucket for bob: 5 each, then nothing.
	na, _ := allowed(t, la, "bob", 5)
	nb, _ := allowed(t, lb, "bob", 5)
	nc, _ := allowed(t, la, "bob", 1)
	if na+nb != 10 || nc != 0 {
		t.Errorf("bob over two replicas: %d+%d allowed then %d, want 10 then 0", na, nb, nc)
	}
	// Another limit of the same key counts apart.
	other := mustLimiter(t, a, "token", limit)
	if n, _ := allowed(t, other, "alice", 10); n != 10 {
		t.Errorf("token limit for alice allowed %d of 10, want 10: limits must count apart", n)
	}
	if !a.Up() || !b.Up() {
		t.Errorf("Up() = %v, %v with Redis answering, want true", a.Up(), b.Up())
	}
}

// TestSharedKeys: Redis holds a fixed-length hash of each key, never the
// key, and every key expires.
func TestSharedKeys(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	r := newRedis(t, testOptions(t, ""), prefix, sharedlimit.Options{})
	l := mustLimiter(t, r, "login_user", ratelimit.Limit{Count: 10, Per: time.Minute})
	secretish := "carol-" + strings.Repeat("x", 200)
	allowed(t, l, secretish, 1)
	allowed(t, l, "dave", 1)

	c := redistest.Client(t)
	keys := redistest.Keys(t, c, prefix)
	if len(keys) != 2 {
		t.Fatalf("keys under the prefix = %q, want 2", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "carol") || strings.Contains(k, "dave") {
			t.Errorf("Redis key %q holds the limiter key", k)
		}
		if len(k) != len(keys[0]) {
			t.Errorf("Redis keys %q and %q differ in length", k, keys[0])
		}
		ttl, err := c.PTTL(context.Background(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > time.Minute {
			t.Errorf("PTTL(%q) = %v, want it to expire within the limit's period", k, ttl)
		}
	}
}

// deadAddr returns an address on 127.0.0.1 where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// clock is a settable time for the backoff.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestFallbackDeadRedis: with nothing at Redis's address, each limit is
// still enforced, in the process; the switch is logged once, not per
// request.
func TestFallbackDeadRedis(t *testing.T) {
	t.Parallel()
	var logs testlog.Buffer
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	r := newRedis(t, &redis.Options{Addr: deadAddr(t)}, "unused:", sharedlimit.Options{
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Now: clk.now,
	})
	if err := r.Check(context.Background()); err == nil {
		t.Fatal("Check() = nil with nothing listening")
	}
	if r.Up() {
		t.Error("Up() = true after a failed Check")
	}
	l := mustLimiter(t, r, "login_user", ratelimit.Limit{Count: 3, Per: time.Minute})
	if n, retry := allowed(t, l, "alice", 10); n != 3 || retry <= 0 {
		t.Errorf("10 requests in fallback: %d allowed (retryAfter %v), want 3 with retryAfter > 0", n, retry)
	}
	// Past the backoff, each probe fails again: still limited, still one
	// log line.
	for range 3 {
		clk.add(2 * sharedlimit.DefaultBackoff)
		if n, _ := allowed(t, l, "alice", 1); n != 0 {
			t.Errorf("alice allowed again in fallback")
		}
	}
	if got := strings.Count(logs.String(), "Redis unreachable"); got != 1 {
		t.Errorf("%d lines about Redis being unreachable, want 1:\n%s", got, logs.String())
	}
}

// proxy forwards TCP connections to Redis while on; while off it drops
// every connection, as a Redis that went away would. It counts the
// connections it accepted.
type proxy struct {
	ln       net.Listener
	target   string
	on       atomic.Bool
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.on.Store(true)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.setOn(false); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			if !p.on.Load() {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			wg.Go(func() { io.Copy(up, c); up.Close() })
			wg.Go(func() { io.Copy(c, up); c.Close() })
		}
	})
	return p
}

// setOn switches the proxy; off also cuts the connections open.
func (p *proxy) setOn(on bool) {
	p.on.Store(on)
	if on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestFallbackAndRecovery: Redis goes away under a running limiter and
// comes back. While away the limit holds in the process and Redis is left
// alone until the backoff has passed; then one request finds it again, the
// limits are shared again, and both switches are logged once.
func TestFallbackAndRecovery(t *testing.T) {
	t.Parallel()
	p := newProxy(t, testOptions(t, "").Addr)
	prefix := redistest.Prefix(t)
	var logs testlog.Buffer
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	r := newRedis(t, testOptions(t, p.ln.Addr().String()), prefix, sharedlimit.Options{
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Now: clk.now,
	})
	// Another replica, straight to Redis, sees what r counts while it is up.
	other := mustLimiter(t, newRedis(t, testOptions(t, ""), prefix, sharedlimit.Options{}), "login_user", ratelimit.Limit{Count: 5, Per: time.Minute})
	l := mustLimiter(t, r, "login_user", ratelimit.Limit{Count: 5, Per: time.Minute})

	if n, _ := allowed(t, l, "alice", 2); n != 2 {
		t.Fatalf("%d of 2 allowed with Redis up", n)
	}
	p.setOn(false)
	// The local bucket took what Redis allowed: 3 more, not 5.
	if n, _ := allowed(t, l, "alice", 10); n != 3 {
		t.Errorf("in fallback after 2 shared: %d allowed, want 3", n)
	}
	if r.Up() {
		t.Error("Up() = true with Redis gone")
	}
	before := p.accepted.Load()
	allowed(t, l, "bob", 20)
	if got := p.accepted.Load(); got != before {
		t.Errorf("%d connections to Redis during the backoff, want none", got-before)
	}

	p.setOn(true)
	allowed(t, l, "bob", 1)
	if r.Up() {
		t.Error("Redis probed before the backoff passed")
	}
	clk.add(sharedlimit.DefaultBackoff)
	// The first request after the backoff probes Redis and counts there.
	if n, _ := allowed(t, l, "carol", 1); n != 1 {
		t.Error("carol refused after recovery")
	}
	if !r.Up() {
		t.Fatal("Up() = false after Redis came back and the backoff passed")
	}
	if n, _ := allowed(t, other, "carol", 10); n != 4 {
		t.Errorf("the other replica allowed carol %d times, want 4 (1 counted through the recovered one)", n)
	}
	log := logs.String()
	if strings.Count(log, "Redis unreachable") != 1 || strings.Count(log, "Redis answers again") != 1 {
		t.Errorf("want one line for each switch, got:\n%s", log)
	}
}

// TestFallbackSlowRedis: a Redis that accepts and never answers costs a
// request the timeout, not more, and the limit holds.
func TestFallbackSlowRedis(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	r := newRedis(t, &redis.Options{Addr: ln.Addr().String()}, "unused:", sharedlimit.Options{Timeout: 20 * time.Millisecond})
	l := mustLimiter(t, r, "token", ratelimit.Limit{Count: 2, Per: time.Minute})
	// A caller without a deadline of its own: only the timeout ends the
	// call.
	if n, _ := allowed(t, l, "alice", 4); n != 2 {
		t.Errorf("%d of 4 allowed against a silent Redis, want 2", n)
	}
	if r.Up() {
		t.Error("Up() = true with Redis silent")
	}
}

// TestCallerCancelled: a request whose client went away does not mark
// Redis down.
func TestCallerCancelled(t *testing.T) {
	t.Parallel()
	r := newRedis(t, testOptions(t, ""), redistest.Prefix(t), sharedlimit.Options{})
	l := mustLimiter(t, r, "token", ratelimit.Limit{Count: 2, Per: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := l.Allow(ctx, "alice"); err != nil {
		t.Fatalf("Allow with a cancelled context: %v", err)
	}
	if !r.Up() {
		t.Error("Up() = false after a caller's cancellation")
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	if o, err := sharedlimit.ParseURL("redis://:pw@127.0.0.1:6380/2"); err != nil || o.Addr != "127.0.0.1:6380" || o.DB != 2 || o.Password != "pw" {
		t.Errorf("ParseURL(good) = %+v, %v", o, err)
	}
	for _, bad := range []string{
		"http://user:hunter2@127.0.0.1:6379",
		"redis://user:hunter2@127.0.0.1:6379/x",
		"redis://user:hunter2@127.0.0.1:6379/0?bogus=1",
		"redis://user:hunter2@127.0.0.1:abc/0",
		"redis://user:hunter2@[::1/0",
		"redis://user:hunter2\x7f@127.0.0.1/0",
		"redis://user:hunter2@127.0.0.1:6379/0?dial_timeout=soon",
	} {
		_, err := sharedlimit.ParseURL(bad)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) = %v: the error shows the password", bad, err)
		}
	}
}

func TestLimiterOff(t *testing.T) {
	t.Parallel()
	r := sharedlimit.New(&redis.Options{Addr: deadAddr(t)}, sharedlimit.Options{})
	defer r.Close()
	if _, err := r.Limiter("token", ratelimit.Limit{}); !errors.Is(err, ratelimit.ErrOff) {
		t.Errorf("Limiter(off) error = %v, want ratelimit.ErrOff", err)
	}
}

// BenchmarkAllow is one take in Redis: a round trip and a Lua script.
func BenchmarkAllow(b *testing.B) {
	opt, err := redis.ParseURL(redistest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	r := sharedlimit.New(opt, sharedlimit.Options{Prefix: redistest.Prefix(b)})
	defer r.Close()
	l, err := r.Limiter("token", ratelimit.Limit{Count: 1_000_000_000, Per: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, _ := l.Allow(ctx, "alice"); !ok {
				b.Error("refused")
			}
		}
	})
	if !r.Up() {
		b.Error("Redis went down during the benchmark")
	}
}

// TestClaim: a key claimed through one replica's Redis is refused through
// another's until its holder releases it (another's release does
// nothing); it expires after the time given and is stored under the
// prefix.
func TestClaim(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	a := newRedis(t, testOptions(t, ""), prefix, sharedlimit.Options{})
	b := newRedis(t, testOptions(t, ""), prefix, sharedlimit.Options{})
	ctx := context.Background()
	claim := func(r *sharedlimit.Redis, holder string, want bool) {
		t.Helper()
		if fresh, err := r.Claim(ctx, "k1", holder, 10*time.Minute); err != nil || fresh != want {
			t.Errorf("Claim(k1) by %s = %v, %v; want %v", holder, fresh, err, want)
		}
	}
	claim(a, "a", true)
	claim(b, "b", false)
	claim(a, "a", false)
	if err := b.Release(ctx, "k1", "b"); err != nil {
		t.Fatal(err)
	}
	claim(b, "b", false) // b never held it: a's claim stays
	if err := b.Release(ctx, "k1", "a"); err != nil {
		t.Fatal(err)
	}
	claim(b, "b", true)
	c := redistest.Client(t)
	keys := redistest.Keys(t, c, prefix)
	if len(keys) != 1 {
		t.Fatalf("keys under the prefix = %q, want one", keys)
	}
	if ttl, err := c.PTTL(ctx, keys[0]).Result(); err != nil || ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("PTTL(%q) = %v, %v; want about 10m", keys[0], ttl, err)
	}
}

// TestClaimDeadRedis: with nothing at Redis's address a claim fails, and
// within the backoff it fails at once with ErrDown, asking nothing; a
// release then does nothing.
func TestClaimDeadRedis(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	r := newRedis(t, &redis.Options{Addr: deadAddr(t)}, "unused:", sharedlimit.Options{Now: clk.now})
	ctx := context.Background()
	if _, err := r.Claim(ctx, "k", "c", time.Minute); err == nil || errors.Is(err, sharedlimit.ErrDown) {
		t.Fatalf("first Claim with nothing listening = %v, want Redis's error", err)
	}
	if _, err := r.Claim(ctx, "k", "c", time.Minute); !errors.Is(err, sharedlimit.ErrDown) {
		t.Errorf("Claim within the backoff = %v, want ErrDown", err)
	}
	if err := r.Release(ctx, "k", "c"); err != nil {
		t.Errorf("Release within the backoff = %v, want nothing done, nil", err)
	}
	if r.Up() {
		t.Error("Up() = true after failed claims")
	}
}

// TestClaimRefusedByACL: a Redis whose ACL lets the limits' keys through
// but not the claims' answers the claim with an error, and the limits stay
// shared: Redis is up, only that key pattern is refused.
func TestClaimRefusedByACL(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	admin := redistest.Client(t)
	ctx := context.Background()
	user, pass := "authsvc-test-"+strings.TrimSuffix(prefix, ":"), "acl-test-password-0123"
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "reset", "on", ">"+pass, "~rate:"+prefix+"*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	opt := testOptions(t, "")
	opt.Username, opt.Password = user, pass
	r := newRedis(t, opt, prefix, sharedlimit.Options{})
	l := mustLimiter(t, r, "login_user", ratelimit.Limit{Count: 10, Per: time.Minute})
	if n, _ := allowed(t, l, "alice", 1); n != 1 {
		t.Fatal("the limit refused its first take")
	}
	if _, err := r.Claim(ctx, "k", "c", time.Minute); err == nil {
		t.Fatal("Claim under an ACL that refuses its key = nil error")
	}
	if !r.Up() {
		t.Error("a refused claim took the limits down to per-process counting")
	}
	for _, k := range redistest.Keys(t, admin, prefix) {
		if !strings.HasPrefix(k, "rate:") {
			t.Errorf("key %q stored despite the ACL", k)
		}
	}
}
