package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"authsvc/internal/httpapi"
	"authsvc/internal/httpapi/httpapitest"
	"authsvc/internal/ratelimit"
	"authsvc/internal/users"
)

// Test fixtures; the secrets are made up.
const (
	testAdminKey   = "load-test-admin-key-0123456789"
	testSecret     = "0123456789abcdef0123456789abcdef"
	testSessionKey = "load-test-session-key-0123456789abcdef"
	testAppID      = 1234567890
	testZIMSecret  = "load-test-zim-callback-secret-0123"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testLimits are the rate limits of a test server; an off one is no limit.
type testLimits struct{ Token, LoginIP ratelimit.Limit }

func (l testLimits) limiters(tb testing.TB) httpapi.Limiters {
	tb.Helper()
	one := func(limit ratelimit.Limit) httpapi.Limiter {
		if limit.Off() {
			return httpapi.NoLimit
		}
		rl, err := ratelimit.New(limit, 1000)
		if err != nil {
			tb.Fatal(err)
		}
		return rl.WithClock(time.Now)
	}
	return httpapi.Limiters{Token: one(l.Token), LoginIP: one(l.LoginIP), LoginUser: httpapi.NoLimit}
}

// newTestServer serves the real HTTP API over a fresh database on
// 127.0.0.1, with cheap password hashing and the given rate limits (none
// when zero).
func newTestServer(t testing.TB, limits testLimits) (string, *users.Store) {
	t.Helper()
	h, store := newTestAPI(t, limits)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, store
}

// newTestAPI is the handler newTestServer serves, for tests that serve it
// more than once, as replicas over one database.
func newTestAPI(t testing.TB, limits testLimits) (http.Handler, *users.Store) {
	t.Helper()
	return httpapitest.New(t, httpapitest.Options{
		AppID: testAppID, Secret: testSecret, AdminKey: testAdminKey, SessionKey: testSessionKey,
		Limiters: limits.limiters(t), ZIMCallbackSecret: testZIMSecret,
	})
}

// TestRunAgainstServer runs each mode through run against the real API and
// checks that the report adds up and that stdout and the JSON file agree.
func TestRunAgainstServer(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "admin-keys")
	// Like the server's own key file: several keys, the first is used.
	if err := os.WriteFile(keyFile, []byte(testAdminKey+"\nsome-older-admin-key-0123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		users     int
		minTime   time.Duration // the measured phase lasts at least this
		requests  int64         // the exact count, for a run bounded by --requests
		maxCount  int64         // the most requests, for an open-loop run
		wantLines []string      // on stderr
	}{
		{
			name:      "token",
			env:       map[string]string{"AUTHSVC_ADMIN_TOKEN": testAdminKey},
			args:      []string{"--mode", "token", "--users", "6", "--concurrency", "4", "--duration", "2s", "--warmup", "200ms", "--progress", "500ms"},
			users:     6,
			minTime:   2 * time.Second,
			wantLines: []string{"created 6 users", "logged in 6 users", "warming up for 200ms", "req/s"},
		},
		{
			name:    "healthz",
			args:    []string{"--mode", "healthz", "--concurrency", "4", "--duration", "1500ms", "--warmup", "100ms", "--progress", "0"},
			minTime: 1500 * time.Millisecond,
		},
		{
			name:     "renew",
			args:     []string{"--mode", "renew", "--users", "2", "--concurrency", "3", "--requests", "300", "--warmup", "0", "--admin-key-file", keyFile},
			users:    2,
			requests: 300,
		},
		{
			// Open loop: 200 callbacks a second for a second, and no more.
			name: "zim-callback",
			env:  map[string]string{"AUTHSVC_ADMIN_TOKEN": testAdminKey, "AUTHSVC_ZIM_CALLBACK_SECRET": testZIMSecret},
			args: []string{"--mode", "zim-callback", "--app-id", strconv.Itoa(testAppID), "--users", "3", "--concurrency", "4",
				"--rate", "200", "--duration", "1s", "--warmup", "0", "--progress", "0"},
			users:     3,
			minTime:   time.Second - 10*time.Millisecond, // the last request starts 5 ms before the end
			maxCount:  200,
			wantLines: []string{"created 3 users"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, store := newTestServer(t, testLimits{})
			args := append([]string{"authsvc-load", "--url", url}, tt.args...)
			before := time.Now()
			rep, stdout, stderr := runReport(t, args, envFunc(tt.env))
			after := time.Now()

			if rep.Mode != tt.name || rep.URL != url || rep.Concurrency < 1 || rep.Users != tt.users {
				t.Errorf("report names mode %q, url %q, %d clients, %d users; want %q, %q, %d users",
					rep.Mode, rep.URL, rep.Concurrency, rep.Users, tt.name, url, tt.users)
			}
			if rep.Errors != 0 {
				t.Errorf("errors = %d %v, want none", rep.Errors, rep.ErrorsByKind)
			}
			if tt.maxCount > 0 && rep.Requests > tt.maxCount {
				t.Errorf("requests = %d, more than the %d the rate schedules", rep.Requests, tt.maxCount)
			}
			if tt.requests > 0 && rep.Requests != tt.requests {
				t.Errorf("requests = %d, want exactly --requests %d", rep.Requests, tt.requests)
			}
			if d := time.Duration(rep.DurationSeconds * float64(time.Second)); d < tt.minTime || d > after.Sub(before) {
				t.Errorf("durationSeconds = %v, want from %v to the %v run took", d, tt.minTime, after.Sub(before))
			}
			if rep.StartedAt.Before(before) || rep.StartedAt.After(after) {
				t.Errorf("startedAt = %v, not within the run (%v to %v)", rep.StartedAt, before, after)
			}
			if rep.GoVersion != runtime.Version() || rep.NumCPU != runtime.NumCPU() {
				t.Errorf("goVersion, numCPU = %q, %d; want %q, %d", rep.GoVersion, rep.NumCPU, runtime.Version(), runtime.NumCPU())
			}

			// The summary shows the numbers the file holds.
			for _, want := range []string{
				"mode          " + tt.name,
				fmt.Sprintf("requests      %d\n", rep.Requests),
				fmt.Sprintf("successes     %d\n", rep.Successes),
				"errors        0\n",
				fmt.Sprintf("throughput    %.1f req/s", rep.Throughput),
				fmt.Sprintf("p50 %.3f  p90 %.3f  p99 %.3f  max %.3f", rep.LatencyMs.P50, rep.LatencyMs.P90, rep.LatencyMs.P99, rep.LatencyMs.Max),
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.wantLines {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stdout+stderr, testAdminKey) {
				t.Error("the output shows the admin key")
			}

			n, err := store.Count(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(tt.users) {
				t.Errorf("the server has %d users, want the %d provisioned", n, tt.users)
			}
		})
	}
}

// runReport runs the load generator with args and --json into a file of
// its own, and returns the report, decoded strictly and checked with
// checkReport, and what it wrote to stdout and stderr.
func runReport(t testing.TB, args []string, env func(string) string) (rep Report, stdout, stderr string) {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	args = append(slices.Clone(args), "--json", jsonPath)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, env, &out, &errOut); err != nil {
		t.Fatalf("run %v = %v\nstderr:\n%s", args[1:], err, errOut.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode --json file: %v\n%s", err, b)
	}
	checkReport(t, rep)
	return rep, out.String(), errOut.String()
}

// checkReport checks the invariants every report must satisfy.
func checkReport(t testing.TB, r Report) {
	t.Helper()
	if r.Requests != r.Successes+r.Errors {
		t.Errorf("requests %d != successes %d + errors %d", r.Requests, r.Successes, r.Errors)
	}
	var byKind int64
	for _, n := range r.ErrorsByKind {
		byKind += n
	}
	if byKind != r.Errors {
		t.Errorf("errorsByKind %v adds up to %d, want errors %d", r.ErrorsByKind, byKind, r.Errors)
	}
	if r.Requests <= 0 || r.Throughput <= 0 || r.DurationSeconds <= 0 {
		t.Errorf("requests %d, throughput %v, durationSeconds %v; want all positive", r.Requests, r.Throughput, r.DurationSeconds)
	}
	if want := float64(r.Requests) / r.DurationSeconds; r.Throughput < want*0.999 || r.Throughput > want*1.001 {
		t.Errorf("throughput = %v, want requests/durationSeconds = %v", r.Throughput, want)
	}
	l := r.LatencyMs
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency p50 %v, p90 %v, p99 %v, max %v; want 0 < p50 <= p90 <= p99 <= max", l.P50, l.P90, l.P99, l.Max)
	}
	if !(0 < l.Mean && l.Mean <= l.Max) {
		t.Errorf("latency mean %v, max %v; want 0 < mean <= max", l.Mean, l.Max)
	}
	if !r.LatencyExact {
		t.Error("latencyExact = false for a run far below the sample budget")
	}
}

// TestRunServerErrors: problems on the server side are clear errors before
// any load is sent, and never show the admin key.
func TestRunServerErrors(t *testing.T) {
	t.Parallel()
	url, _ := newTestServer(t, testLimits{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name string
		url  string
		key  string
		want string
	}{
		{"wrong admin key", url, "not-the-admin-key-0123456789", "401"},
		{"nothing listening", closed, testAdminKey, "not answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			args := []string{"authsvc-load", "--url", tt.url, "--duration", "1s", "--warmup", "0"}
			err := run(context.Background(), args, envFunc(map[string]string{"AUTHSVC_ADMIN_TOKEN": tt.key}), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.key) {
				t.Errorf("the error shows the admin key: %v", err)
			}
			if stdout.Len() > 0 {
				t.Errorf("a report was printed after a failed setup:\n%s", stdout.String())
			}
		})
	}
}

// TestRunRateLimited: rate-limited logins wait as Retry-After says, and
// rate-limited token requests are counted as errors by status, with a hint.
func TestRunRateLimited(t *testing.T) {
	t.Parallel()
	url, _ := newTestServer(t, testLimits{
		LoginIP: ratelimit.Limit{Count: 2, Per: time.Second}, // the 3rd and 4th login wait a second
		Token:   ratelimit.Limit{Count: 5, Per: time.Hour},   // 5 tokens per user, then 429
	})
	// One client taking turns as the 4 users makes the split exact: each
	// user gets 12 or 13 requests, of which 5 succeed.
	args := []string{"authsvc-load", "--url", url, "--users", "4", "--concurrency", "1", "--requests", "50",
		"--warmup", "0", "--progress", "0"}
	rep, stdout, stderr := runReport(t, args, envFunc(map[string]string{"AUTHSVC_ADMIN_TOKEN": testAdminKey}))
	if rep.Requests != 50 || rep.Successes != 4*5 || !maps.Equal(rep.ErrorsByKind, map[string]int64{"http_429": 30}) {
		t.Errorf("requests %d, successes %d, errorsByKind %v; want 50, 20, 30 http_429",
			rep.Requests, rep.Successes, rep.ErrorsByKind)
	}
	if !strings.Contains(stderr, "/v1/sessions is rate limited") {
		t.Errorf("stderr does not say the logins were rate limited:\n%s", stderr)
	}
	if !strings.Contains(stdout, "errors        30 (http_429 30)") || !strings.Contains(stdout, "--rate-token off") {
		t.Errorf("summary does not explain the 429s:\n%s", stdout)
	}
}

// routeCounter counts the requests a server answers, by method and path.
type routeCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *routeCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.n[r.Method+" "+r.URL.Path]++
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *routeCounter) get(route string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[route]
}

// TestRunSeveralServers runs the token mode against two servers over one
// database, as replicas: setup goes to the first, each is checked to be up,
// and the clients are spread over both, half each.
func TestRunSeveralServers(t *testing.T) {
	t.Parallel()
	h, _ := newTestAPI(t, testLimits{})
	counters := []*routeCounter{{n: map[string]int64{}}, {n: map[string]int64{}}}
	urls := make([]string, len(counters))
	for i, c := range counters {
		srv := httptest.NewServer(c.wrap(h))
		t.Cleanup(srv.Close)
		urls[i] = srv.URL
	}
	const requests = 400
	args := []string{"authsvc-load", "--url", strings.Join(urls, ","), "--mode", "token", "--users", "4",
		"--concurrency", "4", "--requests", strconv.Itoa(requests), "--duration", "0", "--warmup", "0", "--progress", "0",
		"--server-pid", strconv.Itoa(os.Getpid())}
	rep, stdout, _ := runReport(t, args, envFunc(map[string]string{"AUTHSVC_ADMIN_TOKEN": testAdminKey}))
	if want := strings.Join(urls, ","); rep.URL != want || rep.Requests != requests || rep.Errors != 0 {
		t.Errorf("report: url %q, %d requests, %d errors; want %q, %d, none", rep.URL, rep.Requests, rep.Errors, want, requests)
	}
	// The servers run in this process, so its CPU time is theirs (and the
	// clients'): 400 requests over HTTP take well over one 10 ms tick.
	if len(rep.ServerPIDs) != 1 || rep.ServerPIDs[0] != os.Getpid() || rep.ServerCPUSeconds <= 0 ||
		math.Abs(rep.ServerCPUMicrosPerRequest-rep.ServerCPUSeconds*1e6/requests) > 1e-6 {
		t.Errorf("report: server pids %v, CPU %v s, %v µs per request; want this process, > 0, and the one divided by %d",
			rep.ServerPIDs, rep.ServerCPUSeconds, rep.ServerCPUMicrosPerRequest, requests)
	}
	if want := fmt.Sprintf("server CPU    %.1f µs per request", rep.ServerCPUMicrosPerRequest); !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout)
	}
	for i, c := range counters {
		if got := c.get("GET /healthz"); got != 1 {
			t.Errorf("server %d: GET /healthz answered %d times, want once", i, got)
		}
		wantSetup := int64(0)
		if i == 0 {
			wantSetup = 4 // the logins, all through the first server
		}
		if got := c.get("POST /v1/sessions"); got != wantSetup {
			t.Errorf("server %d: POST /v1/sessions answered %d times, want %d", i, got, wantSetup)
		}
	}
	// Clients 0 and 2 drive the first server, 1 and 3 the second. Each
	// client waits for its answer before the next request, so the split
	// follows the servers' speed, and both serve one handler.
	t0, t1 := counters[0].get("POST /v1/token"), counters[1].get("POST /v1/token")
	if t0+t1 != requests || t0 == 0 || t1 == 0 {
		t.Errorf("POST /v1/token answered %d and %d times, want %d in all, some by each", t0, t1, requests)
	}
}
