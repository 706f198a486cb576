package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"authsvc/api"
	"authsvc/internal/ratelimit"
)

func TestRateLimitToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.limits.Token = ratelimit.Limit{Count: 2, Per: time.Minute} })
	alice := e.userWithSession("alice")
	bob := e.userWithSession("bob")
	var tok api.TokenResponse
	e.do("POST", "/v1/token", alice, nil).want(t, 200).decode(t, &tok)
	e.do("POST", "/v1/token/renew", alice, map[string]any{"token": tok.Token}).want(t, 200) // renew shares the bucket
	resp := e.do("POST", "/v1/token", alice, nil)
	resp.problem(t, http.StatusTooManyRequests, codeRateLimited)
	secs, err := strconv.Atoi(resp.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 30 {
		t.Errorf("Retry-After = %q, want 1..30 seconds", resp.header.Get("Retry-After"))
	}
	e.do("POST", "/v1/token/renew", alice, map[string]any{"token": tok.Token}).problem(t, http.StatusTooManyRequests, codeRateLimited)
	// Per user: bob is unaffected, and admins asking for alice count against alice.
	e.do("POST", "/v1/token", bob, nil).want(t, 200)
	e.do("POST", "/v1/token", testAdminKey, map[string]any{"userID": "alice"}).problem(t, http.StatusTooManyRequests, codeRateLimited)
	e.clock.Advance(time.Duration(secs) * time.Second)
	e.do("POST", "/v1/token", alice, nil).want(t, 200)
}

func TestRateLimitSessions(t *testing.T) {
	t.Parallel()
	t.Run("per user", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(s *envSetup) { s.limits.LoginUser = ratelimit.Limit{Count: 3, Per: time.Minute} })
		e.createUser("alice")
		e.createUser("bob")
		for i := 0; i < 3; i++ {
			e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": "guess " + strconv.Itoa(i)}).problem(t, 401, codeInvalidCredentials)
		}
		// Even the right password waits now: the guesser cannot tell.
		resp := e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": testPassword})
		resp.problem(t, http.StatusTooManyRequests, codeRateLimited)
		if resp.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		e.login("bob")
	})
	t.Run("per client IP, not spoofable through an untrusted proxy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(s *envSetup) {
			s.limits.LoginIP = ratelimit.Limit{Count: 2, Per: time.Minute}
			s.cfg.TrustedProxies = []netip.Prefix{mustPrefix(t, "10.0.0.0/8")}
		})
		e.createUser("alice")
		for i, xff := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/sessions", jsonBody(t, map[string]any{"userID": "alice", "password": testPassword}))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", xff) // the test client is not a trusted proxy
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusOK
			if i == 2 {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want {
				t.Errorf("login %d with X-Forwarded-For %s: %d, want %d", i+1, xff, resp.StatusCode, want)
			}
		}
	})
}

// TestRateLimitLoginBehindProxy: behind a trusted proxy, each client the
// proxy names has its own bucket, also when the proxy writes ports; IPv6
// clients count by their /64; clients the proxy cannot name share one
// bucket, which is not the proxy's own.
func TestRateLimitLoginBehindProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) {
		s.limits.LoginIP = ratelimit.Limit{Count: 1, Per: time.Hour}
		s.cfg.TrustedProxies = []netip.Prefix{mustPrefix(t, "127.0.0.0/8"), mustPrefix(t, "::1/128")}
	})
	e.createUser("alice")
	login := func(xff string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/sessions", jsonBody(t, map[string]any{"userID": "alice", "password": testPassword}))
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, step := range []struct {
		xff  string
		want int
	}{
		{"203.0.113.7:4000", 200},
		{"203.0.113.8:4000", 200}, // another client, though written with a port
		{"203.0.113.7:4001", 429}, // the first again, from another port
		{"[2001:db8:1:2::1]:443", 200},
		{"2001:db8:1:2::ffff", 429}, // the same /64
		{"2001:db8:1:3::1", 200},    // the next /64
		{"unknown", 200},            // the first unidentifiable client
		{"_hidden, 127.0.0.1", 429}, // shares that bucket
		{"198.51.100.9", 200},       // named clients are unaffected
		{"", 200},                   // and so is the proxy itself
	} {
		if got := login(step.xff); got != step.want {
			t.Errorf("login with X-Forwarded-For %q: %d, want %d", step.xff, got, step.want)
		}
	}
}

// failingLimiter is a limiter whose store is down: every Allow fails.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string) (bool, time.Duration, error) {
	return false, 0, errors.New("limiter store unreachable")
}

// TestRateLimiterFails: a failing limiter refuses logins (fail closed, an
// internal error) and lets tokens through (fail open, logged).
func TestRateLimiterFails(t *testing.T) {
	t.Parallel()
	// An internal error, which the spec leaves out of every route, so the
	// login is sent past the spec check.
	login := func(t *testing.T, e *env) {
		t.Helper()
		resp, err := http.Post(e.srv.URL+"/v1/sessions", "application/json",
			strings.NewReader(`{"userID":"alice","password":"`+testPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(body), `"code":"internal"`) || strings.Contains(string(body), "unreachable") {
			t.Errorf("login with a failing limiter answered %d %s, want 500 internal", resp.StatusCode, body)
		}
		if !strings.Contains(e.logs.String(), "limiter store unreachable") {
			t.Error("the limiter's failure was not logged")
		}
	}
	t.Run("login per IP", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(s *envSetup) { s.limiters.LoginIP = failingLimiter{} })
		e.createUser("alice")
		login(t, e)
	})
	t.Run("login per user", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(s *envSetup) { s.limiters.LoginUser = failingLimiter{} })
		e.createUser("alice")
		login(t, e)
	})
	t.Run("token", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(s *envSetup) { s.limiters.Token = failingLimiter{} })
		alice := e.userWithSession("alice")
		var tok api.TokenResponse
		e.do("POST", "/v1/token", alice, nil).want(t, 200).decode(t, &tok)
		e.do("POST", "/v1/token/renew", alice, map[string]any{"token": tok.Token}).want(t, 200)
		if logs := e.logs.String(); !strings.Contains(logs, "rate limiter failed; allowing the request") {
			t.Errorf("a failing token limiter was not logged; logs:\n%s", logs)
		}
	})
}
