package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// tokenUsers records the userIDs named in POST /v1/token bodies.
type tokenUsers struct {
	mu  sync.Mutex
	ids map[string]int
}

func (tu *tokenUsers) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/token" {
			b, _ := io.ReadAll(r.Body)
			var req struct{ UserID string }
			_ = json.Unmarshal(b, &req)
			tu.mu.Lock()
			tu.ids[req.UserID]++
			tu.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	})
}

// TestRunAdminToken provisions named users, mints tokens as an admin for
// random ones among them, then reuses them without provisioning, and
// provisions again over existing users.
func TestRunAdminToken(t *testing.T) {
	t.Parallel()
	h, store := newTestAPI(t, testLimits{})
	counter := &routeCounter{n: map[string]int64{}}
	tu := &tokenUsers{ids: map[string]int{}}
	srv := httptest.NewServer(counter.wrap(tu.wrap(h)))
	t.Cleanup(srv.Close)
	env := envFunc(map[string]string{"AUTHSVC_ADMIN_TOKEN": testAdminKey})

	// runLoad runs admin-token mode with args and returns its report and
	// stderr.
	runLoad := func(t *testing.T, args ...string) (Report, string) {
		t.Helper()
		args = append([]string{"authsvc-load", "--url", srv.URL, "--mode", "admin-token", "--concurrency", "4",
			"--requests", "400", "--duration", "0", "--warmup", "0", "--progress", "0"}, args...)
		rep, stdout, stderr := runReport(t, args, env)
		if rep.Requests != 400 || rep.Errors != 0 || rep.Mode != modeAdminToken {
			t.Errorf("report: mode %q, %d requests, %d errors %v; want admin-token, 400, none",
				rep.Mode, rep.Requests, rep.Errors, rep.ErrorsByKind)
		}
		if want := "as an admin for " + strconv.Itoa(rep.Users) + " random users " + rep.UserPrefix + "-*"; !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
		return rep, stderr
	}
	count := func(t *testing.T) int64 {
		t.Helper()
		n, err := store.Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// 1,500 users: one full import of 1,000 and one of 500.
	rep, stderr := runLoad(t, "--users", "1500", "--user-prefix", "at")
	if rep.Users != 1500 || rep.UserPrefix != "at" {
		t.Errorf("report: %d users, prefix %q; want 1500, at", rep.Users, rep.UserPrefix)
	}
	if !strings.Contains(stderr, "provisioned 1500 users at-* in ") || !strings.Contains(stderr, "1500 created, 0 there already") {
		t.Errorf("stderr does not say 1500 users were created:\n%s", stderr)
	}
	if n := count(t); n != 1500 {
		t.Errorf("the server has %d users, want 1500", n)
	}
	if got := counter.get("POST /v1/users/import"); got != 2 {
		t.Errorf("POST /v1/users/import answered %d times, want 2", got)
	}
	tu.mu.Lock()
	picked, total := len(tu.ids), 0
	for id, n := range tu.ids {
		total += n
		i, err := strconv.Atoi(strings.TrimPrefix(id, "at-"))
		if !strings.HasPrefix(id, "at-") || err != nil || i < 0 || i >= 1500 {
			t.Errorf("a token was asked for %q, not one of at-0 .. at-1499", id)
		}
	}
	clear(tu.ids)
	tu.mu.Unlock()
	// 400 picks among 1,500 users repeat few: fewer than 300 distinct
	// would take a broken generator (the chance is far below 1e-9).
	if total != 400 || picked < 300 {
		t.Errorf("%d tokens for %d distinct users; want 400 for at least 300", total, picked)
	}

	// The same users, not imported again.
	_, stderr = runLoad(t, "--users", "1500", "--user-prefix", "at", "--provision=false")
	if !strings.Contains(stderr, "using 1500 existing users at-*") {
		t.Errorf("stderr does not say the users were reused:\n%s", stderr)
	}
	if got := counter.get("POST /v1/users/import"); got != 2 {
		t.Errorf("POST /v1/users/import answered %d times after --provision=false, want still 2", got)
	}

	// Provisioning over existing users: they count as provisioned.
	_, stderr = runLoad(t, "--users", "2000", "--user-prefix", "at")
	if !strings.Contains(stderr, "500 created, 1500 there already") {
		t.Errorf("stderr does not say 500 were created and 1500 existed:\n%s", stderr)
	}
	if n := count(t); n != 2000 {
		t.Errorf("the server has %d users, want 2000", n)
	}

	// The default prefix is new each run.
	rep, _ = runLoad(t, "--users", "10")
	if !strings.HasPrefix(rep.UserPrefix, "load-") || rep.UserPrefix == "load-" {
		t.Errorf("default prefix = %q, want load-<run ID>", rep.UserPrefix)
	}

	// Users that do not exist are an error before any load.
	for _, args := range [][]string{
		{"--users", "10", "--user-prefix", "nobody", "--provision=false"},
		{"--users", "2001", "--user-prefix", "at", "--provision=false"}, // at-2000 is missing
	} {
		before := counter.get("POST /v1/token")
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"authsvc-load", "--url", srv.URL, "--mode", "admin-token",
			"--requests", "10", "--warmup", "0"}, args...), env, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("run %v = %v, want an error saying a user does not exist", args, err)
		}
		if got := counter.get("POST /v1/token"); got != before {
			t.Errorf("run %v sent %d token requests after a failed check", args, got-before)
		}
	}
}
