package httpapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/internal/audit"
)

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser("alice")
	s1, s2 := e.login("alice"), e.login("alice")
	if s1 == s2 {
		t.Fatal("two logins in the same second got the same session token")
	}
	e.do("POST", "/v1/token", s1, nil).want(t, 200) // the session cache now knows s1
	e.do("POST", "/v1/token", s2, nil).want(t, 200)

	resp := e.do("DELETE", "/v1/sessions/current", s1, nil).want(t, http.StatusNoContent)
	if len(resp.body) != 0 {
		t.Errorf("logout body = %q, want none", resp.body)
	}
	e.do("POST", "/v1/token", s1, nil).problem(t, 401, codeUnauthorized)
	e.do("GET", "/v1/users/alice", s1, nil).problem(t, 401, codeUnauthorized)
	// Only that session ended.
	e.do("POST", "/v1/token", s2, nil).want(t, 200)
	e.do("GET", "/v1/users/alice", s2, nil).want(t, 200)
	// Logging out again is fine.
	e.do("DELETE", "/v1/sessions/current", s1, nil).want(t, http.StatusNoContent)

	// The revocation is in the database, not only in the cache: a reload
	// starts with an empty session cache, and s1 stays refused.
	creds := *e.api.creds.Load()
	if err := e.api.Reload(&creds); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/v1/token", s1, nil).problem(t, 401, codeUnauthorized)
	e.do("POST", "/v1/token", s2, nil).want(t, 200)

	// One event, for the first logout; the second wrote nothing.
	if err := e.audit.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var page auditPage
	e.do("GET", "/v1/audit?event="+audit.SessionRevoked, testAdminKey, nil).want(t, 200).decode(t, &page)
	if len(page.Events) != 1 {
		t.Fatalf("session.revoked events = %+v, want 1", page.Events)
	}
	if ev := page.Events[0]; ev.UserID != "alice" || ev.Actor != "user:alice" || ev.ClientIP != "127.0.0.1" || ev.RequestID == "" {
		t.Errorf("session.revoked = %+v", ev)
	}
}

func TestLogoutRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withIdP(t, nil))
	session := e.userWithSession("alice")

	e.do("DELETE", "/v1/sessions/current", testAdminKey, nil).problem(t, 403, codeNotASession)
	e.do("DELETE", "/v1/sessions/current", e.idpToken(jwt.MapClaims{"sub": "alice"}), nil).problem(t, 403, codeNotASession)
	e.do("DELETE", "/v1/sessions/current", tamper(e.idpToken(jwt.MapClaims{"sub": "alice"})), nil).problem(t, 401, codeUnauthorized)
	e.do("DELETE", "/v1/sessions/current", "", nil).problem(t, 401, codeUnauthorized)
	e.do("DELETE", "/v1/sessions/current", "not-a-token", nil).problem(t, 401, codeUnauthorized)
	e.do("DELETE", "/v1/sessions/current", tamper(session), nil).problem(t, 401, codeUnauthorized)
	// None of that ended the session.
	e.do("POST", "/v1/token", session, nil).want(t, 200)

	// A session of a disabled user has ended already; ending it is fine.
	e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"disabled": true}).want(t, 200)
	e.do("DELETE", "/v1/sessions/current", session, nil).want(t, http.StatusNoContent)
	// An expired one is no credential at all.
	e.clock.Advance(24*time.Hour + time.Second)
	e.do("DELETE", "/v1/sessions/current", session, nil).problem(t, 401, codeUnauthorized)
	if n := revokedRows(t, e); n != 1 {
		t.Errorf("revoked_sessions has %d rows, want 1", n)
	}
}

func revokedRows(t *testing.T, e *env) int {
	t.Helper()
	var n int
	if err := e.db.Reader.QueryRow(`SELECT COUNT(*) FROM revoked_sessions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSessionCacheForget checks that a check which read the revocation list
// before a logout committed cannot leave the token in the cache after it.
func TestSessionCacheForget(t *testing.T) {
	t.Parallel()
	key := []byte("session-key-for-tests-0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	tok, err := mintSession(key, "alice", 7, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := newSessionCache()
	// The logout commits and forgets the token while the check is between
	// its lookup and its cache write.
	racing := func(context.Context, string) (bool, error) { c.forget(tok); return false, nil }
	if sub, ep, err := c.verify(ctx, key, tok, now, racing); err != nil || sub != "alice" || ep != 7 {
		t.Fatalf("verify = %q, %d, %v; want alice, 7, nil", sub, ep, err)
	}
	revoked := func(context.Context, string) (bool, error) { return true, nil }
	if _, _, err := c.verify(ctx, key, tok, now, revoked); !errors.Is(err, errInvalidSession) {
		t.Errorf("verify after the logout = %v, want errInvalidSession: the cache kept the token", err)
	}

	// Without a logout in between, the cache answers without a lookup.
	notRevoked := func(context.Context, string) (bool, error) { return false, nil }
	if _, _, err := c.verify(ctx, key, tok, now, notRevoked); err != nil {
		t.Fatal(err)
	}
	failing := func(context.Context, string) (bool, error) { return false, errors.New("database down") }
	if _, _, err := c.verify(ctx, key, tok, now, failing); err != nil {
		t.Errorf("cached verify = %v, want no lookup", err)
	}
	// A failed lookup is the database's error, not a bad credential.
	tok2, err := mintSession(key, "alice", 7, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.verify(ctx, key, tok2, now, failing); err == nil || errors.Is(err, errInvalidSession) {
		t.Errorf("verify with a failing lookup = %v, want the lookup's error", err)
	}
}

// TestSessionWithoutID checks that a token minted before sessions had IDs
// is refused: it could not be logged out.
func TestSessionWithoutID(t *testing.T) {
	t.Parallel()
	key := []byte("session-key-for-tests-0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	old, err := jwt.NewWithClaims(jwt.SigningMethodHS256, sessionClaims{Epoch: 1, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: sessionIssuer, Subject: "alice", Audience: jwt.ClaimStrings{sessionAudience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseSession(key, old, now); err == nil {
		t.Error("parseSession accepted a session token without an ID")
	}
	tok, err := mintSession(key, "alice", 1, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseSession(key, tok, now)
	if err != nil || len(c.ID) < 20 {
		t.Errorf("parseSession(mintSession) = %+v, %v; want an ID of 128 bits", c, err)
	}
}

// FuzzParseSession feeds arbitrary bearer credentials to the session token
// parser that every session check and DELETE /v1/sessions/current use: it
// must not panic, and whatever it accepts must be signed with the key, with
// a subject and an ID.
func FuzzParseSession(f *testing.F) {
	key := []byte("session-key-for-tests-0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	tok, err := mintSession(key, "alice", 7, now, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	other, err := mintSession([]byte("another-session-key-0123456789abcdef"), "alice", 7, now, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{tok, other, tamper(tok), "", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", testAdminKey} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseSession(key, s, now)
		if err != nil {
			return
		}
		if c.Subject == "" || c.ID == "" {
			t.Errorf("parseSession(%q) accepted claims without a subject or ID: %+v", s, c)
		}
		if _, err := parseSession([]byte("another-session-key-0123456789abcdef"), s, now); err == nil {
			t.Errorf("parseSession(%q) accepts the token under two keys", s)
		}
	})
}

// TestLogoutElsewhere: a logout this server did not see (through another
// replica, here straight in the store) is honoured once the cached session
// is due for its recheck, sessionRecheck after it was last checked.
func TestLogoutElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser("alice")
	s := e.login("alice")
	e.do("POST", "/v1/token", s, nil).want(t, 200) // cached, checked now
	claims, err := parseSession(e.api.creds.Load().SessionKey, s, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeSession(context.Background(), claims.ID, claims.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/v1/token", s, nil).want(t, 200) // still trusted: within sessionRecheck
	e.clock.Advance(sessionRecheck)
	e.do("POST", "/v1/token", s, nil).problem(t, 401, codeUnauthorized)
	e.do("POST", "/v1/token", s, nil).problem(t, 401, codeUnauthorized)
}
