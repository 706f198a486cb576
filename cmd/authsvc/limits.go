package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"authsvc/internal/httpapi"
	"authsvc/internal/ratelimit"
	"authsvc/internal/sharedlimit"
)

// limiterKeys is how many keys each in-process limit keeps in memory.
const limiterKeys = 100_000

// rateLimits are the configured request rate limits; an off one is no
// limit.
type rateLimits struct {
	Token, LoginIP, LoginUser ratelimit.Limit
}

// limiters returns the limiters of r, each built by build from its name
// (the label of authsvc_rate_limited_total, also its name in Redis) and
// its Limit; an off limit is httpapi.NoLimit.
func (r rateLimits) limiters(build func(name string, l ratelimit.Limit) (httpapi.Limiter, error)) (httpapi.Limiters, error) {
	var ls httpapi.Limiters
	for _, l := range []struct {
		name  string
		limit ratelimit.Limit
		dst   *httpapi.Limiter
	}{
		{"token", r.Token, &ls.Token},
		{"login_ip", r.LoginIP, &ls.LoginIP},
		{"login_user", r.LoginUser, &ls.LoginUser},
	} {
		*l.dst = httpapi.NoLimit
		if l.limit.Off() {
			continue
		}
		lim, err := build(l.name, l.limit)
		if err != nil {
			return httpapi.Limiters{}, err
		}
		*l.dst = lim
	}
	return ls, nil
}

// localLimiter builds in-process limiters reading the time from now.
func localLimiter(now func() time.Time) func(string, ratelimit.Limit) (httpapi.Limiter, error) {
	return func(_ string, l ratelimit.Limit) (httpapi.Limiter, error) {
		rl, err := ratelimit.New(l, limiterKeys)
		if err != nil {
			return nil, err
		}
		return rl.WithClock(now), nil
	}
}

// redisConfig is where the limits are shared, when they are.
type redisConfig struct {
	options *redis.Options // nil: limits per process
	timeout time.Duration
	prefix  string
}

// openShared connects the limits to Redis, if configured, and exports its
// state as authsvc_rate_limit_shared_up. A Redis that does not answer at
// startup is not an error: the service starts with the limits per process
// (logged as a warning) and shares them once Redis answers, so that a Redis
// outage never keeps a replica from starting or restarting.
func (svc *service) openShared(ctx context.Context, reg *prometheus.Registry) (func(string, ratelimit.Limit) (httpapi.Limiter, error), error) {
	cfg := svc.cfg
	if cfg.redis.options == nil {
		return localLimiter(time.Now), nil
	}
	shared := sharedlimit.New(cfg.redis.options, sharedlimit.Options{
		Prefix: cfg.redis.prefix, Timeout: cfg.redis.timeout, MaxKeys: limiterKeys, Logger: cfg.logger,
	})
	svc.shared = shared
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authsvc_rate_limit_shared_up",
		Help: "1 while the rate limits are counted in Redis, shared by every replica; 0 while Redis is unreachable and each replica counts alone.",
	}, func() float64 {
		if shared.Up() {
			return 1
		}
		return 0
	})); err != nil {
		return nil, err
	}
	if shared.Check(ctx) == nil {
		cfg.logger.Info("rate limits are shared through Redis")
	}
	return func(name string, l ratelimit.Limit) (httpapi.Limiter, error) {
		return shared.Limiter(name, l)
	}, nil
}
