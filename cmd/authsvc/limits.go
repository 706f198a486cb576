package main

import (
	"time"

	"authsvc/internal/httpapi"
	"authsvc/internal/ratelimit"
)

// limiterKeys is how many keys each in-process limit keeps in memory.
const limiterKeys = 100_000

// rateLimits are the configured request rate limits; an off one is no
// limit.
type rateLimits struct {
	Token, LoginIP, LoginUser ratelimit.Limit
}

// limiters returns the in-process limiters of r, reading the time from now.
func (r rateLimits) limiters(now func() time.Time) (httpapi.Limiters, error) {
	var ls httpapi.Limiters
	for _, l := range []struct {
		limit ratelimit.Limit
		dst   *httpapi.Limiter
	}{
		{r.Token, &ls.Token},
		{r.LoginIP, &ls.LoginIP},
		{r.LoginUser, &ls.LoginUser},
	} {
		*l.dst = httpapi.NoLimit
		if l.limit.Off() {
			continue
		}
		rl, err := ratelimit.New(l.limit, limiterKeys)
		if err != nil {
			return httpapi.Limiters{}, err
		}
		*l.dst = rl.WithClock(now)
	}
	return ls, nil
}
