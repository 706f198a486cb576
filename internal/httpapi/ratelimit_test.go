package httpapi

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"authsvc/internal/ratelimit"
)

func TestRateLimitToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.cfg.Limits.Token = ratelimit.Limit{Count: 2, Per: time.Minute} })
	alice := e.userWithSession("alice")
	bob := e.userWithSession("bob")
	var tok tokenResponse
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
		e := newEnv(t, func(s *envSetup) { s.cfg.Limits.LoginUser = ratelimit.Limit{Count: 3, Per: time.Minute} })
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
			s.cfg.Limits.LoginIP = ratelimit.Limit{Count: 2, Per: time.Minute}
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
