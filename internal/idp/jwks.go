package idp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxJWKSBytes bounds a JWKS response: real ones are a few KiB.
	maxJWKSBytes = 1 << 20
	// fetchTimeout bounds every JWKS fetch, whatever the HTTP client's own
	// timeout: a fetch that never ends would block all later refreshes.
	fetchTimeout = 10 * time.Second
)

// jwksSource holds the keys of a JWKS endpoint and refetches them when a
// token names an unknown kid or the keys have grown older than maxAge.
// Refetches are rate-limited to one per minRefresh and shared: while one is
// in flight, callers that need it wait for it instead of starting their own.
type jwksSource struct {
	url        string
	client     *http.Client
	log        *slog.Logger
	minRefresh time.Duration
	maxAge     time.Duration
	now        func() time.Time // the rate limiter's clock, not the token's

	set atomic.Pointer[keySet]

	mu       sync.Mutex
	lastTry  time.Time     // start of the last fetch, failed or not
	inflight chan struct{} // closed when the fetch in flight ends; nil if none
}

// checkJWKSURL allows https, and http only to a loopback host (tests, or a
// sidecar on the same machine): keys fetched in clear text from elsewhere
// could be replaced by anyone on the path.
func checkJWKSURL(u *url.URL) error {
	switch {
	case u.Host == "":
		return errors.New("JWKS URL has no host")
	case u.User != nil:
		return errors.New("JWKS URL must not hold credentials")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("JWKS URL scheme %q not allowed: use https (http only for a loopback host)", u.Scheme)
}

// errRedirect refuses every redirect of a JWKS fetch. Checking each hop
// against checkJWKSURL would not be enough: the request to the next hop is
// already sent by the time its answer could be judged, and an https URL may
// redirect to an internal service. Providers publish a stable JWKS URL, so
// configure the final one.
var errRedirect = errors.New("the JWKS URL redirects; redirects are not followed, configure the final URL")

func refuseRedirect(*http.Request, []*http.Request) error { return errRedirect }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// key returns the key for a token with kid and alg, refetching the set once
// when kid is unknown.
func (s *jwksSource) key(ctx context.Context, kid, alg string) (any, error) {
	set := s.set.Load()
	if s.now().Sub(set.fetched) >= s.maxAge {
		// A key the provider withdrew (say, because it leaked) must stop
		// working even if no token with a new kid ever comes. This token
		// is checked against the keys at hand meanwhile.
		s.refresh(ctx, false)
	}
	pub, err := set.lookup(kid, alg)
	if err == nil || kid == "" || !errors.Is(err, ErrUnknownKey) {
		// A token without kid gets no refetch: its kid cannot appear.
		return pub, err
	}
	if err := s.refresh(ctx, true); err != nil {
		return nil, ErrUnknownKey.wrap(err)
	}
	return s.set.Load().lookup(kid, alg)
}

// refresh starts a fetch unless one is in flight or the last one started
// less than minRefresh ago. With wait, it returns when the fetch in flight
// (if any) has ended, or with ctx's error when ctx ends first. The fetch
// itself is not bound to ctx: the caller that started it may go away while
// others wait for it.
func (s *jwksSource) refresh(ctx context.Context, wait bool) error {
	s.mu.Lock()
	done := s.inflight
	if done == nil {
		now := s.now()
		if now.Sub(s.lastTry) < s.minRefresh {
			s.mu.Unlock()
			return nil
		}
		s.lastTry = now
		done = make(chan struct{})
		s.inflight = done
		go s.refetch(context.WithoutCancel(ctx), done)
	}
	s.mu.Unlock()
	if !wait {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refetch fetches the set and, on success, replaces the keys; on failure the
// old keys stay. It closes done when the new keys, if any, are in place.
func (s *jwksSource) refetch(ctx context.Context, done chan struct{}) {
	set, err := s.fetch(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "idp: JWKS refresh failed; keeping the previous keys", "url", s.url, "error", err)
	}
	s.mu.Lock()
	if err == nil {
		s.set.Store(set)
	}
	s.inflight = nil
	s.mu.Unlock()
	close(done)
}

// fetch gets and parses the set. Keys it skips are logged, each with why.
func (s *jwksSource) fetch(ctx context.Context) (*keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("fetch JWKS: response over %d bytes", maxJWKSBytes)
	}
	set, skipped, err := parseJWKS(body)
	for _, sk := range skipped {
		level := slog.LevelWarn
		if errors.Is(sk.err, errIgnored) {
			level = slog.LevelDebug
		}
		s.log.Log(ctx, level, "idp: JWKS key skipped", "url", s.url, "index", sk.index, "kid", sk.kid, "reason", sk.err)
	}
	if err != nil {
		return nil, err
	}
	set.fetched = s.now()
	return set, nil
}
