package idp

import "time"

// WithClock returns cfg with the JWKS refresh clock set to now, so tests
// step through refresh intervals without sleeping.
func WithClock(cfg Config, now func() time.Time) Config {
	cfg.now = now
	return cfg
}

// WaitRefresh returns when the JWKS refetch in flight, if any, has ended.
func WaitRefresh(v *Verifier) {
	v.jwks.mu.Lock()
	done := v.jwks.inflight
	v.jwks.mu.Unlock()
	if done != nil {
		<-done
	}
}

// ParseJWKS returns the kids of the usable keys of a JWKS document, and the
// number of keys skipped.
func ParseJWKS(body []byte) (kids []string, skipped int, err error) {
	set, sk, err := parseJWKS(body)
	if err != nil {
		return nil, len(sk), err
	}
	for _, k := range set.keys {
		kids = append(kids, k.kid)
	}
	return kids, len(sk), nil
}

// PlainNumber exposes plainNumber for its fuzz test.
var PlainNumber = plainNumber
