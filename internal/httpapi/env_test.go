package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/ratelimit"
	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/testlog"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

// Test fixtures. The secrets are made up for the tests.
const (
	testAppID    = 1234567890
	testSecret   = "0123456789abcdef0123456789abcdef"
	testAdminKey = "admin-key-for-tests-0123456789"
	// Shaped like a JWT, which authenticate tries as a session first.
	testAdminKey2 = "second.admin-key.for-rotation"
	testPassword  = "correct horse battery"
)

var testHash = users.HashParams{Memory: 64, Time: 1, Threads: 1} // real argon2id, cheap enough for tests

// clock is a settable test clock.
type clock struct{ unix atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.unix.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).Unix())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(c.unix.Load(), 0) }
func (c *clock) Advance(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

// env is one server on a fresh database, reached over real HTTP.
type env struct {
	t      testing.TB
	api    *Server
	srv    *httptest.Server
	store  *users.Store
	db     *sqldb.DB
	dbPath string // the SQLite file, or a PostgreSQL URL with AUTHSVC_TEST_DIALECT=postgres
	clock  *clock
	logs   *testlog.Buffer
	client *http.Client
	key    *token.Key
	reg    *prometheus.Registry
	audit  *audit.Recorder
	// limiters are the in-process limiters behind the server's, nil when off.
	limiters rawLimiters
}

type envOption func(*envSetup)

type envSetup struct {
	cfg      Config
	creds    *Credentials
	logLevel slog.Level
	logTo    io.Writer // the env's testlog.Buffer unless set
	noAudit  bool
	audit    audit.Options // of the env's Recorder; its FlushInterval defaults to 10ms
	limits   testLimits    // in-process limiters on the env's clock; zero is off
	limiters Limiters      // each one set replaces the one of limits
	console  http.Handler  // Deps.Console
	// roomGrants, when set, gives Deps.RoomGrants on the env's database
	// and clock.
	roomGrants func(*sqldb.DB, func() time.Time) RoomGrants
	nonces     Nonces // Deps.Nonces
}

// testLimits are the rate limits of an env.
type testLimits struct{ Token, LoginIP, LoginUser ratelimit.Limit }

// limiters returns the limiters of l on now, NoLimit for those that are
// off, and the in-process ones behind them, nil for those that are off.
func (l testLimits) limiters(tb testing.TB, now func() time.Time) (Limiters, rawLimiters) {
	tb.Helper()
	one := func(limit ratelimit.Limit) (Limiter, *ratelimit.Limiter) {
		if limit.Off() {
			return NoLimit, nil
		}
		rl, err := ratelimit.New(limit, 100_000)
		if err != nil {
			tb.Fatal(err)
		}
		return rl.WithClock(now), rl
	}
	var ls Limiters
	var raw rawLimiters
	ls.Token, raw.Token = one(l.Token)
	ls.LoginIP, raw.LoginIP = one(l.LoginIP)
	ls.LoginUser, raw.LoginUser = one(l.LoginUser)
	return ls, raw
}

// rawLimiters are an env's in-process limiters, for tests that look inside.
type rawLimiters struct{ Token, LoginIP, LoginUser *ratelimit.Limiter }

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	dbPath := sqldbtest.Default(t).DSN(t) // a file, or a PostgreSQL URL
	db := sqldbtest.OpenPath(t, dbPath)
	store, err := users.NewStore(db, users.Options{Hash: testHash})
	if err != nil {
		t.Fatal(err)
	}
	key, err := token.NewKey([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{SessionTTL: 24 * time.Hour, RenewGrace: 5 * time.Minute, ServeMetrics: true, Version: "test"}
	creds := &Credentials{
		Apps: []apps.App{{
			ID: testAppID, Keys: []*token.Key{key}, Variant: token.GCM,
			TTL: apps.TTLBounds{Default: time.Hour, Min: time.Minute, Max: 24 * time.Hour},
		}},
		DefaultApp: testAppID,
		AdminKeys:  []AdminKey{NewAdminKey([]byte(testAdminKey)), NewAdminKey([]byte(testAdminKey2))},
		SessionKey: []byte("session-key-for-tests-0123456789abcdef"),
	}
	e := &env{t: t, store: store, db: db, clock: newClock(), logs: &testlog.Buffer{}, key: key, reg: prometheus.NewRegistry(), dbPath: dbPath}
	setup := envSetup{cfg: cfg, creds: creds, logLevel: slog.LevelDebug, logTo: e.logs,
		audit: audit.Options{FlushInterval: 10 * time.Millisecond}}
	for _, o := range opts {
		o(&setup)
	}
	cfg, creds = setup.cfg, setup.creds
	logger := slog.New(slog.NewJSONHandler(setup.logTo, &slog.HandlerOptions{Level: setup.logLevel}))
	events, err := audit.NewReader(db)
	if err != nil {
		t.Fatal(err)
	}
	var limiters Limiters
	limiters, e.limiters = setup.limits.limiters(t, e.clock.Now)
	for _, l := range []struct{ set, dst *Limiter }{
		{&setup.limiters.Token, &limiters.Token},
		{&setup.limiters.LoginIP, &limiters.LoginIP},
		{&setup.limiters.LoginUser, &limiters.LoginUser},
	} {
		if *l.set != nil {
			*l.dst = *l.set
		}
	}
	deps := Deps{Store: store, Ready: db.Ready, Events: events, Limiters: limiters,
		Logger: logger, AccessLog: setup.logTo, Registry: e.reg, Now: e.clock.Now, Rand: rand.Reader, Console: setup.console,
		Nonces: setup.nonces}
	if setup.roomGrants != nil {
		deps.RoomGrants = setup.roomGrants(db, e.clock.Now)
	}
	if !setup.noAudit {
		setup.audit.Logger = logger
		e.audit = audit.NewRecorder(db, setup.audit)
		t.Cleanup(func() { e.audit.Close(context.Background()) }) // before the database closes: cleanups run last-in first-out
		deps.Audit = e.audit
	}
	e.api, err = NewServer(cfg, creds, deps)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	e.client = &http.Client{Timeout: 10 * time.Second, Transport: &specCheck{t: t, base: http.DefaultTransport}}
	return e
}

// response is what a test got back, already checked against the spec.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem response and checks its status and code.
func (r *response) problem(t testing.TB, status int, code string) problem {
	t.Helper()
	var p problem
	r.decode(t, &p)
	if r.status != status || p.Code != code {
		t.Fatalf("got %d %q (%s), want %d %q", r.status, p.Code, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("problem Content-Type = %q", ct)
	}
	return p
}

// do sends a request; body is JSON-encoded unless it is a string or nil.
func (e *env) do(method, path, credential string, body any) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless the response has the given status.
func (r *response) want(t testing.TB, status int) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d (%s), want %d", r.status, r.body, status)
	}
	return r
}

// createUser provisions a user with the test password.
func (e *env) createUser(id string) {
	e.t.Helper()
	e.do("POST", "/v1/users", testAdminKey, map[string]any{"userID": id, "password": testPassword}).want(e.t, http.StatusCreated)
}

// login returns a session token for a user with the test password.
func (e *env) login(id string) string {
	e.t.Helper()
	var s api.SessionResponse
	e.do("POST", "/v1/sessions", "", map[string]any{"userID": id, "password": testPassword}).want(e.t, http.StatusOK).decode(e.t, &s)
	return s.AccessToken
}

// wantNoUsers fails the test, saying why, if the registry holds any user.
func (e *env) wantNoUsers(why string) {
	e.t.Helper()
	var list api.UserList
	e.do("GET", "/v1/users", testAdminKey, nil).want(e.t, http.StatusOK).decode(e.t, &list)
	if len(list.Users) != 0 {
		e.t.Errorf("%s: %+v", why, list.Users)
	}
}

// userWithSession creates a user and logs them in.
func (e *env) userWithSession(id string) string {
	e.t.Helper()
	e.createUser(id)
	return e.login(id)
}

// specCheck validates every response a test receives against
// api/openapi.yaml, so the contract cannot drift from the code.
type specCheck struct {
	t    testing.TB
	base http.RoundTripper
}

var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

func loadSpec() (*openapi3.T, routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(api.Spec)
		if specErr != nil {
			return
		}
		if specErr = specDoc.Validate(context.Background()); specErr != nil {
			return
		}
		specRouter, specErr = gorillamux.NewRouter(specDoc)
	})
	return specDoc, specRouter, specErr
}

func (c *specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := validateResponse(req, resp, body); err != nil {
		c.t.Errorf("%s %s -> %d %s\n  does not match api/openapi.yaml: %v", req.Method, req.URL.Path, resp.StatusCode, body, err)
	}
	return resp, nil
}

func validateResponse(req *http.Request, resp *http.Response, body []byte) error {
	_, router, err := loadSpec()
	if err != nil {
		return err
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		// Unknown routes must answer with a problem document.
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			return err
		}
		var p problem
		if err := json.Unmarshal(body, &p); err != nil || p.Code == "" {
			return err
		}
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}
