package httpapi

import (
	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"authsvc/internal/audit"
	"authsvc/internal/ratelimit"
)

// listAudit returns the events of an audit listing, walking the pages.
func (e *env) listAudit(query string) []auditEvent {
	e.t.Helper()
	var all []auditEvent
	after := ""
	for range 100 {
		var p auditPage
		e.do("GET", "/v1/audit?limit=1000&"+query+"&after="+after, testAdminKey, nil).want(e.t, http.StatusOK).decode(e.t, &p)
		all = append(all, p.Events...)
		if p.Next == "" {
			return all
		}
		after = p.Next
	}
	e.t.Fatal("audit pagination does not end")
	return nil
}

// metric returns the value of the sample line that starts with series.
func (e *env) metric(series string) string {
	e.t.Helper()
	body := string(e.do("GET", "/metrics", testAdminKey, nil).want(e.t, http.StatusOK).body)
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	e.t.Fatalf("no metric %s in:\n%s", series, body)
	return ""
}

// dbBytes is the size of the database file and its write-ahead log.
func dbBytes(t testing.TB, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestLoginFloodBoundsTheAuditTrail replays the attack that grew the
// database by 1.7 GB: failed logins with random 60 KB userIDs. The old code
// stored each userID in its own row, 36 MB for these 600 requests; now the
// trail grows by less than 5 MB, counts every attempt, and holds nothing
// the client sent.
func TestLoginFloodBoundsTheAuditTrail(t *testing.T) {
	t.Parallel()
	sqldbtest.SQLiteOnly(t)
	for _, tc := range []struct {
		name   string
		limits testLimits
	}{
		{"limits off", testLimits{}},
		{"limits on", testLimits{LoginIP: ratelimit.Limit{Count: 60, Per: time.Minute}, LoginUser: ratelimit.Limit{Count: 10, Per: time.Minute}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(s *envSetup) { s.limits = tc.limits })
			e.createUser("alice")
			if err := e.audit.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			before := dbBytes(t, e.dbPath)

			const n, idLen = 600, 60_000
			rnd := mrand.New(mrand.NewPCG(1, 2))
			const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			id := make([]byte, idLen)
			sent := make([]string, 0, 8)
			statuses := map[int]int{}
			for i := range n {
				for j := range id {
					id[j] = letters[rnd.IntN(len(letters))]
				}
				if i%100 == 0 {
					sent = append(sent, string(id[:64]))
				}
				r := e.do("POST", "/v1/sessions", "", map[string]any{"userID": string(id), "password": "some password"})
				statuses[r.status]++
				switch r.status {
				case http.StatusUnauthorized:
					r.problem(t, r.status, codeInvalidCredentials)
				case http.StatusTooManyRequests:
					r.problem(t, r.status, codeRateLimited)
				default:
					t.Fatalf("login %d: %d %s", i, r.status, r.body)
				}
			}
			if err := e.audit.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			grown := dbBytes(t, e.dbPath) - before
			t.Logf("%d failed logins (%v) grew the database and WAL by %d bytes", n, statuses, grown)
			if grown >= 5<<20 {
				t.Errorf("%d failed logins grew the database and WAL by %d bytes, want < 5 MB", n, grown)
			}

			events := e.listAudit("event=" + audit.SessionFailed)
			var total int64
			for _, ev := range events {
				total += ev.Count
				if ev.UserID != "" && (!strings.HasPrefix(ev.UserID, fingerprintPrefix) || len(ev.UserID) != len(fingerprintPrefix)+24) {
					t.Fatalf("session.failed for a userID that is no user's shows %.80q, want a fingerprint", ev.UserID)
				}
			}
			if total != n || len(events) > n {
				t.Errorf("%d session.failed rows count %d attempts, want %d", len(events), total, n)
			}
			listing := string(mustJSON(t, events))
			for _, s := range sent {
				if strings.Contains(listing, s[:32]) {
					t.Fatalf("the audit trail holds a userID the client sent")
				}
			}
			if l := e.limiters.LoginUser; l != nil && l.Len() != 0 {
				t.Errorf("the per-user login limiter holds %d keys; invalid userIDs must never become keys", l.Len())
			}
			if tc.limits.LoginIP.Count > 0 {
				if got, want := e.metric(`authsvc_rate_limited_total{limit="login_ip"}`), fmt.Sprint(statuses[429]); got != want {
					t.Errorf(`authsvc_rate_limited_total{limit="login_ip"} = %s, want %s`, got, want)
				}
			}
		})
	}
}

// TestLoginFloodFromOneClient: a client that keeps sending junk userIDs
// past the per-IP limit makes a constant number of rows per window, however
// long it goes on, and a wrong password for a registered user, sent in the
// middle of the flood, keeps its own row with the user and address.
func TestLoginFloodFromOneClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) {
		s.limits = testLimits{LoginIP: ratelimit.Limit{Count: 60, Per: time.Minute}, LoginUser: ratelimit.Limit{Count: 10, Per: time.Minute}}
		s.cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	e.createUser("carol")
	// carol's guesser comes through the proxy, from another address.
	carolGuess := func() {
		req, err := http.NewRequest("POST", e.srv.URL+"/v1/sessions", strings.NewReader(`{"userID":"carol","password":"wrong password"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "198.51.100.20")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("carol's wrong password: status %d, want 401", resp.StatusCode)
		}
	}
	rnd := mrand.New(mrand.NewPCG(3, 4))
	for i := range 3000 {
		id := fmt.Sprintf("x y%x", rnd.Uint64()) // breaks the ZIM rule
		if i%2 == 1 {
			id = fmt.Sprintf("junk%x", rnd.Uint64()) // valid, no one's
		}
		if i == 1500 {
			carolGuess()
		}
		e.do("POST", "/v1/sessions", "", map[string]any{"userID": id, "password": "some password"})
	}
	events := e.listAudit("event=" + audit.SessionFailed)
	var total int64
	var carol bool
	for _, ev := range events {
		total += ev.Count
		carol = carol || ev.UserID == "carol" && ev.ClientIP == "198.51.100.20"
	}
	// Per window: the junk that passed the per-IP limit (60 at most, one
	// row for all the invalid IDs, one per valid junk ID), one row for all
	// the refusals, carol's.
	if len(events) > 60+2 || total != 3001 {
		t.Errorf("3,001 failed logins made %d rows counting %d, want at most 62 counting all", len(events), total)
	}
	if !carol {
		t.Errorf("carol's failed login has no row of its own with her address: %+v", events)
	}
}

// TestLoginAudit: a successful login is session.created; a failed one
// names a registered user, another valid userID only by a keyed
// fingerprint, which the session key determines, and a userID that breaks
// the ZIM rule (a password typed into the field, say) not at all.
func TestLoginAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.limits.LoginUser = ratelimit.Limit{Count: 100, Per: time.Minute} })
	e.createUser("alice")
	e.login("alice")
	for _, id := range []string{"alice", "bob", "bob", testPassword, strings.Repeat("x", 33)} {
		e.do("POST", "/v1/sessions", "", map[string]any{"userID": id, "password": "wrong password"}).problem(t, http.StatusUnauthorized, codeInvalidCredentials)
	}
	if got := e.limiters.LoginUser.Len(); got != 2 {
		t.Errorf("the per-user login limiter holds %d keys, want 2 (alice, bob): only valid userIDs", got)
	}
	key := e.api.creds.Load().SessionKey
	bob := fingerprint(key, "bob")
	if !strings.HasPrefix(bob, fingerprintPrefix) {
		t.Fatalf("fingerprint %q", bob)
	}

	events := e.listAudit("")
	counts := map[string]int64{}
	for _, ev := range events {
		switch ev.Event {
		case audit.SessionCreated, audit.SessionFailed:
			counts[ev.Event+" "+ev.UserID] += ev.Count
			if ev.ClientIP != "127.0.0.1" || ev.RequestID == "" {
				t.Errorf("%s lacks client IP or request ID: %+v", ev.Event, ev)
			}
		}
	}
	want := map[string]int64{
		"session.created alice": 1,
		"session.failed alice":  1,
		"session.failed " + bob: 2,
		"session.failed ":       2, // testPassword and 33 bytes: no one's
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("login events %v, want %v", counts, want)
	}
	if strings.Contains(string(mustJSON(t, events)), testPassword) || strings.Contains(string(mustJSON(t, events)), `"bob"`) {
		t.Error("the audit trail holds an attempted userID that is no user's")
	}

	// Another session key, other fingerprints: old rows no longer match new ones.
	creds := *e.api.creds.Load()
	creds.SessionKey = []byte("another-session-key-for-tests-0123456789")
	if err := e.api.Reload(&creds); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/v1/sessions", "", map[string]any{"userID": "bob", "password": "wrong password"}).want(t, http.StatusUnauthorized)
	if n := len(e.listAudit("userID=" + url.QueryEscape(bob))); n != 1 {
		t.Errorf("%d rows under bob's old fingerprint after a session key rotation, want the 1 from before", n)
	}
	if n := len(e.listAudit("userID=" + url.QueryEscape(fingerprint(creds.SessionKey, "bob")))); n != 1 {
		t.Errorf("%d rows under bob's new fingerprint, want 1", n)
	}
}

// TestRenewFailuresCountAgainstTheTokenLimit: bad tokens cost the caller
// tokens from their bucket, and their audit rows are tallied.
func TestRenewFailuresCountAgainstTheTokenLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.limits.Token = ratelimit.Limit{Count: 3, Per: time.Minute} })
	alice := e.userWithSession("alice")
	for range 3 {
		e.do("POST", "/v1/token/renew", alice, map[string]any{"token": "garbage"}).problem(t, http.StatusBadRequest, codeInvalidToken)
	}
	for range 5 {
		e.do("POST", "/v1/token/renew", alice, map[string]any{"token": "garbage"}).problem(t, http.StatusTooManyRequests, codeRateLimited)
	}
	e.do("POST", "/v1/token", alice, nil).problem(t, http.StatusTooManyRequests, codeRateLimited)

	got := map[string]int64{}
	for _, ev := range e.listAudit("event=" + audit.TokenRenewFailed) {
		if ev.Actor != "user:alice" {
			t.Errorf("token.renew_failed actor %q, want user:alice", ev.Actor)
		}
		got[ev.Reason] += ev.Count
	}
	if want := map[string]int64{"malformed": 3, codeRateLimited: 5}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("token.renew_failed counts %v, want %v", got, want)
	}
	if n := len(e.listAudit("event=" + audit.TokenRenewFailed)); n != 2 {
		t.Errorf("%d token.renew_failed rows for 8 failures, want 2 (one per reason)", n)
	}
	if got := e.metric(`authsvc_rate_limited_total{limit="token"}`); got != "6" {
		t.Errorf(`authsvc_rate_limited_total{limit="token"} = %s, want 6`, got)
	}
}

// TestCurrentPasswordSharesTheLoginLimit: guessing currentPassword is no
// faster than guessing at login, and it is audited.
func TestCurrentPasswordSharesTheLoginLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.limits.LoginUser = ratelimit.Limit{Count: 4, Per: time.Minute} })
	alice := e.userWithSession("alice") // one login: 3 attempts left
	for i := range 3 {
		e.do("PATCH", "/v1/users/alice", alice, map[string]any{"password": "new password 1", "currentPassword": fmt.Sprint("guess ", i)}).
			problem(t, http.StatusForbidden, codeInvalidCredentials)
	}
	// Even the right one waits now, and so does a login.
	r := e.do("PATCH", "/v1/users/alice", alice, map[string]any{"password": "new password 1", "currentPassword": testPassword})
	r.problem(t, http.StatusTooManyRequests, codeRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": testPassword}).problem(t, http.StatusTooManyRequests, codeRateLimited)
	// Other changes need no password, and no limit.
	e.do("PATCH", "/v1/users/alice", alice, map[string]any{"userName": "Alice"}).want(t, http.StatusOK)

	got := map[string]int64{}
	for _, ev := range e.listAudit("event=" + audit.PasswordFailed) {
		if ev.UserID != "alice" || ev.Actor != "user:alice" {
			t.Errorf("user.password_failed = %+v", ev)
		}
		got[ev.Reason] += ev.Count
	}
	if want := map[string]int64{codeInvalidCredentials: 3, codeRateLimited: 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("user.password_failed counts %v, want %v", got, want)
	}
	e.clock.Advance(time.Minute)
	e.do("PATCH", "/v1/users/alice", alice, map[string]any{"password": "new password 1", "currentPassword": testPassword}).want(t, http.StatusOK)
}

// TestAuditShowsAChangeAtOnce: the listing flushes what is queued, though
// the Recorder would otherwise write it only an hour later.
func TestAuditShowsAChangeAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.audit = audit.Options{FlushInterval: time.Hour, TallyWindow: time.Hour} })
	e.createUser("alice")
	e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": "wrong password"}).want(t, http.StatusUnauthorized)
	got := map[string]int64{}
	for _, ev := range e.listAudit("userID=alice") {
		got[ev.Event] += ev.Count
	}
	if want := map[string]int64{audit.UserCreated: 1, audit.SessionFailed: 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit right after the changes: %v, want %v", got, want)
	}
}

// TestStalledAuditWriterDoesNotBlockTokens: with the database's writer
// taken, token requests go on; the events that find the queue full are
// dropped and counted. A Record that waited would hang the requests.
func TestStalledAuditWriterDoesNotBlockTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) {
		s.audit = audit.Options{QueueSize: 4, BatchSize: 1, FlushInterval: time.Millisecond}
	})
	alice := e.userWithSession("alice")
	if err := e.audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Stall the audit writer: on SQLite by holding the one writer
	// connection of the trail's file, on PostgreSQL (whose pool has more)
	// by locking its tables against writes, token events' blocks among
	// them; the token route needs neither.
	tx, err := e.db.Audit().Writer.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() }) // before the Recorder closes
	if e.db.Dialect() == sqldb.Postgres {
		if _, err := tx.Exec(`LOCK TABLE audit_events, audit_token_blocks IN EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20
	for range n {
		e.do("POST", "/v1/token", alice, nil).want(t, http.StatusOK)
	}
	// One event in the writer's hands, at most four queued.
	if got := e.metric(`authsvc_audit_events_total{result="dropped"}`); got != fmt.Sprint(n-5) && got != fmt.Sprint(n-4) {
		t.Errorf(`authsvc_audit_events_total{result="dropped"} = %s, want %d or %d`, got, n-5, n-4)
	}
}
