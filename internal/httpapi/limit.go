package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Limiter counts requests per key and says when one is over its limit.
// ratelimit.Limiter, with a clock, is the in-process one; a limiter shared
// by replicas lives elsewhere and may fail, hence the error.
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Limiters are the request rate limits. A nil one is NoLimit.
type Limiters struct {
	Token     Limiter // per user, on token issue and renew
	LoginIP   Limiter // per client IP, on POST /v1/sessions
	LoginUser Limiter // per userID, on POST /v1/sessions and currentPassword checks
}

// NoLimit is the Limiter of a limit that is switched off: it allows all.
var NoLimit Limiter = noLimit{}

type noLimit struct{}

func (noLimit) Allow(context.Context, string) (bool, time.Duration, error) { return true, 0, nil }

// orNoLimit returns ls with NoLimit for each nil one, so that a server never
// holds a nil Limiter.
func (ls Limiters) orNoLimit() Limiters {
	for _, l := range []*Limiter{&ls.Token, &ls.LoginIP, &ls.LoginUser} {
		if *l == nil {
			*l = NoLimit
		}
	}
	return ls
}

// Names of the limits, for the authsvc_rate_limited_total metric.
const (
	limitToken     = "token"
	limitLoginIP   = "login_ip"
	limitLoginUser = "login_user"
)

// limit takes a token from key's bucket, or says when to come back. which
// names the limit. key must be bounded and validated (a userID that passed
// users.ValidateID, a client IP): every distinct key is a bucket.
//
// When the limiter fails, the login limits fail closed: they are what stands
// between a password and guessing, so the request fails (an internal error,
// logged once at the edge). The token limit fails open, logged here: it
// guards cost, not secrets, and a limiter outage must not stop every app
// from renewing its users' tokens.
func (s *Server) limit(ctx context.Context, l Limiter, which, key string) error {
	ok, retry, err := l.Allow(ctx, key)
	if err != nil {
		if which != limitToken {
			return fmt.Errorf("%s rate limit: %w", which, err)
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "rate limiter failed; allowing the request",
			slog.String("limit", which), slog.String("request_id", requestID(ctx)), slog.String("error", err.Error()))
		return nil
	}
	if ok {
		return nil
	}
	s.metrics.rateLimited.WithLabelValues(which).Inc()
	return &rateLimitedError{retryAfter: retry}
}

// rateLimitedError is a request over its limit; toProblem makes it a 429
// with Retry-After.
type rateLimitedError struct {
	retryAfter time.Duration
}

// seconds is the wait in whole seconds, rounded up: a client that waits
// that long finds its token back.
func (e *rateLimitedError) seconds() int {
	return int((e.retryAfter + time.Second - 1) / time.Second)
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("too many requests; retry in %d s", e.seconds())
}
