// Package sharedlimit enforces rate limits across replicas: every replica
// counts in the same Redis, so a limit of 10 a minute is 10 a minute for the
// whole service, not 10 per replica.
//
// While Redis is unreachable each limit falls back to an in-process
// ratelimit.Limiter of the same Limit. Limits then hold per replica (at most
// N times the limit across N replicas): login limits never open the door to
// unlimited password guessing, and token issuance never stops for want of a
// counter.
//
// The same Redis also keeps claims (Claim, Release): keys that one process
// at a time may hold until they expire, such as the nonces of the callbacks
// accepted, which every replica must refuse to take again.
package sharedlimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"authsvc/internal/ratelimit"
)

// Defaults of Options.
const (
	DefaultTimeout = 100 * time.Millisecond
	DefaultBackoff = time.Second
	DefaultPrefix  = "authsvc:"
)

// Options tune a Redis. The zero value is usable with a Logger.
type Options struct {
	// Prefix starts every key this process writes ("authsvc:" when empty),
	// so that several deployments can share one Redis.
	Prefix string
	// Timeout bounds every Redis call, dial included (DefaultTimeout when
	// zero): a slow Redis costs a request at most this much.
	Timeout time.Duration
	// Backoff is how long Redis is left alone after a failure
	// (DefaultBackoff when zero); then one request probes it again.
	Backoff time.Duration
	// MaxKeys bounds each fallback limiter (100,000 when zero).
	MaxKeys int
	// Logger receives one line per switch to or from the fallback.
	Logger *slog.Logger
	// Now is the clock of the backoff and of the fallback limiters;
	// time.Now when nil. The shared limits use Redis's own clock.
	Now func() time.Time
}

// Redis is the Redis that a process's limits share, with what the process
// knows of its health. Safe for concurrent use.
type Redis struct {
	client  *redis.Client
	rate    *redis_rate.Limiter
	release *redis.Script // releaseScript
	prefix  string
	timeout time.Duration
	backoff time.Duration
	maxKeys int
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	up      bool      // the last call answered
	probing bool      // a request is probing Redis after a failure
	retryAt time.Time // while down, when to probe next
}

// ParseURL reads a Redis URL (redis://[user:password@]host[:port][/db],
// rediss:// for TLS, unix://…) with redis.ParseURL. Its error never holds
// the URL's password, since it ends up in logs and on terminals.
func ParseURL(raw string) (*redis.Options, error) {
	opt, err := redis.ParseURL(raw)
	if err == nil {
		return opt, nil
	}
	// url.Parse's errors quote the whole URL; the cause alone is enough.
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	msg := err.Error()
	if info := userinfo(raw); info != "" {
		msg = strings.ReplaceAll(msg, info, "REDACTED")
	}
	return nil, fmt.Errorf("not a Redis URL such as redis://[:password@]host:6379/0: %s", msg)
}

// userinfo returns the "user:password" part of a URL as written, even when
// the URL does not parse.
func userinfo(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		return rest[:i]
	}
	return ""
}

// New returns a Redis reached with opt, which it changes: every timeout
// becomes o.Timeout and retries are off, because the fallback is the retry
// and a request must not wait for several. It does not connect; Check does.
// Close closes the client.
func New(opt *redis.Options, o Options) *Redis {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	opt.DialTimeout = o.Timeout
	opt.ReadTimeout = o.Timeout
	opt.WriteTimeout = o.Timeout
	opt.PoolTimeout = o.Timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	client := redis.NewClient(opt)
	return &Redis{
		client: client, rate: redis_rate.NewLimiter(client), release: redis.NewScript(releaseScript),
		prefix: o.Prefix, timeout: o.Timeout, backoff: o.Backoff, maxKeys: o.MaxKeys,
		log: o.Logger, now: o.Now, up: true,
	}
}

// Close closes the connections to Redis. The limiters must not be used
// after.
func (r *Redis) Close() error { return r.client.Close() }

// Check pings Redis, as a request would reach it, and records the answer:
// at startup, an unreachable Redis is logged and the limits start in
// fallback rather than the service not starting.
func (r *Redis) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := r.client.Ping(ctx).Err()
	r.report(err)
	return err
}

// Up reports whether the last call to Redis answered: limits are shared.
// false means each limit is enforced per process.
func (r *Redis) Up() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

// try reports whether a request at now should ask Redis: always while it
// is up; while it is down, one request once the backoff has passed.
func (r *Redis) try(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.up {
		return true
	}
	if r.probing || now.Before(r.retryAt) {
		return false
	}
	r.probing = true
	return true
}

// report records how a call to Redis went, logging a change of state.
func (r *Redis) report(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.probing = false
	was := r.up
	r.up = err == nil
	if err != nil {
		r.retryAt = r.now().Add(r.backoff)
	}
	switch {
	case was && err != nil:
		r.log.Warn("Redis unreachable: rate limits are enforced per process until it answers",
			slog.String("error", err.Error()), slog.Duration("retry_every", r.backoff))
	case !was && err == nil:
		r.log.Info("Redis answers again: rate limits are shared")
	}
}

// Limiter returns a limiter of limit, named name in Redis (a short constant
// such as "login_user": each limit keeps its own counts). limit must not be
// off (ratelimit.ErrOff).
func (r *Redis) Limiter(name string, limit ratelimit.Limit) (*Limiter, error) {
	local, err := ratelimit.New(limit, r.maxKeys)
	if err != nil {
		return nil, err
	}
	return &Limiter{
		r:     r,
		name:  name,
		limit: redis_rate.Limit{Rate: limit.Count, Burst: limit.Count, Period: limit.Per},
		local: local,
	}, nil
}

// Limiter is one rate limit counted in Redis, or in the process while
// Redis is unreachable. Safe for concurrent use.
type Limiter struct {
	r     *Redis
	name  string
	limit redis_rate.Limit
	local *ratelimit.Limiter
}

// Allow takes one token from key's bucket, in Redis if it answers within
// the timeout, else in the process. It never fails: the error is there for
// the shape of httpapi.Limiter.
//
// A request that Redis allowed takes from the local bucket too, so that a
// switch to the fallback starts from what this replica has already let
// through rather than from a full bucket.
func (l *Limiter) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error) {
	now := l.r.now()
	if l.r.try(now) {
		ok, retryAfter, err := l.shared(ctx, key)
		l.r.settle(ctx, err)
		if err == nil {
			if ok {
				l.local.Allow(key, now)
			}
			return ok, retryAfter, nil
		}
	}
	ok, retryAfter = l.local.Allow(key, now)
	return ok, retryAfter, nil
}

// settle records how a call made after try went.
func (r *Redis) settle(ctx context.Context, err error) {
	if err != nil && ctx.Err() != nil {
		// The caller gave up, which says nothing of Redis.
		r.mu.Lock()
		r.probing = false
		r.mu.Unlock()
		return
	}
	r.report(err)
}

// ErrDown is Claim's error while Redis is left alone after a failure.
var ErrDown = errors.New("redis is unreachable")

// Claim records key in Redis for ttl (at least a second) as held by claim,
// a value unique to the caller, unless a process holds it already: a
// memory of ZIM callback nonces that every replica shares. While Redis is
// down it fails at once with ErrDown, and the caller keeps to its own
// memory, as the limits fall back to their own counts.
func (r *Redis) Claim(ctx context.Context, key, claim string, ttl time.Duration) (bool, error) {
	if !r.try(r.now()) {
		return false, ErrDown
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	fresh, err := r.client.SetNX(cctx, r.nonceKey(key), claim, max(ttl, time.Second)).Result()
	r.settleClaim(ctx, err)
	return fresh, err
}

// releaseScript deletes KEYS[1] only while ARGV[1] holds it: a release
// after a claim that failed, or that expired and was claimed again, never
// drops another process's claim.
const releaseScript = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// Release forgets key if claim still holds it. While Redis is down it does
// nothing and reports nothing: the claim, if one was made before, expires
// by itself, and the outage is logged once already.
func (r *Redis) Release(ctx context.Context, key, claim string) error {
	if !r.try(r.now()) {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := r.release.Run(cctx, r.client, []string{r.nonceKey(key)}, claim).Err()
	r.settleClaim(ctx, err)
	return err
}

// settleClaim is settle for the claims, except that an error Redis
// answered with (a key pattern its ACL refuses, say) says it is up: the
// limits, which it serves, must not fall back for it.
func (r *Redis) settleClaim(ctx context.Context, err error) {
	var answered redis.Error
	if errors.As(err, &answered) && !errors.Is(err, redis.Nil) {
		err = nil
	}
	r.settle(ctx, err)
}

// nonceKey is the Redis key of a claimed nonce key.
func (r *Redis) nonceKey(key string) string { return r.prefix + "nonce:" + key }

func (l *Limiter) shared(ctx context.Context, key string) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, l.r.timeout)
	defer cancel()
	res, err := l.r.rate.Allow(ctx, l.key(key), l.limit)
	if err != nil {
		return false, 0, err
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, max(res.RetryAfter, time.Millisecond), nil
}

// key is the Redis key of a limiter key: the prefix, the limit's name and
// a hash of both, so that a key's length is fixed and no userID or client
// address is stored as is. redis_rate puts "rate:" in front, and expires
// the key once its bucket is full again.
func (l *Limiter) key(key string) string {
	h := sha256.New()
	h.Write([]byte(l.name))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return l.r.prefix + l.name + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}
