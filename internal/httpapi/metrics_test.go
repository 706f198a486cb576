package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// seriesCount is the number of series the registry would expose.
func (e *env) seriesCount() int {
	e.t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, f := range fams {
		n += len(f.GetMetric())
	}
	return n
}

// send makes a request whose method need not be a standard one; e.do
// would reject nothing, but this skips the JSON helpers.
func (e *env) send(method, path, credential, body string) int {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestMetricsCardinalityBounded sends requests with distinct methods, paths
// and appIDs: after a first round has created every series those shapes of
// request can reach, further rounds must not add any.
func TestMetricsCardinalityBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.logLevel = 100 }) // no access log: 10,000 lines would only cost time
	e.createUser("alice")
	round := func(from, to int) {
		for i := from; i < to; i++ {
			method := fmt.Sprintf("M%dX", i)
			switch i % 5 {
			case 0:
				e.send(method, fmt.Sprintf("/no/such/%d", i), "", "")
			case 1:
				e.send(method, "/v1/users", testAdminKey, "")
			case 2:
				e.send("GET", fmt.Sprintf("/v1/users/u%d", i), testAdminKey, "")
			case 3:
				e.send("GET", fmt.Sprintf("/x%d", i), "", "")
			case 4:
				// An appID the service does not mint for: refused, and its
				// number must not become a label.
				body := fmt.Sprintf(`{"userID":"alice","appID":%d}`, 1000+i)
				if got := e.send("POST", "/v1/token", testAdminKey, body); got != http.StatusBadRequest {
					t.Fatalf("POST /v1/token with appID %d = %d, want 400", 1000+i, got)
				}
			}
		}
	}
	round(0, 50)
	before := e.seriesCount()
	round(50, 10_050)
	if after := e.seriesCount(); after != before {
		t.Errorf("series after 10,000 distinct requests = %d, want %d as after the first round", after, before)
	}
	m := string(e.do("GET", "/metrics", testAdminKey, nil).want(t, http.StatusOK).body)
	for _, want := range []string{
		// chi answers an unknown method with 405 before matching a route.
		`authsvc_http_requests_total{method="other",route="unmatched",status="405"} 4020`,
		`authsvc_http_requests_total{method="GET",route="/v1/users/{userID}",status="404"} 2010`,
		`authsvc_token_failures_total{reason="invalid_app_id"} 2010`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s\n%s", want, m)
		}
	}
	if strings.Contains(m, "M51X") || strings.Contains(m, `app_id="1004"`) {
		t.Error("a client-chosen method or appID became a label value")
	}
}

func TestMethodLabel(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"GET", "GET"}, {"HEAD", "HEAD"}, {"POST", "POST"}, {"PUT", "PUT"}, {"PATCH", "PATCH"},
		{"DELETE", "DELETE"}, {"OPTIONS", "OPTIONS"}, {"CONNECT", "CONNECT"}, {"TRACE", "TRACE"},
		{"get", "other"}, {"PROPFIND", "other"}, {"M1X", "other"}, {"", "other"},
	}
	for _, tt := range tests {
		if got := methodLabel(tt.in); got != tt.want {
			t.Errorf("methodLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestAccessLogMethodBounded: a 4 KB method is cut in the access log.
func TestAccessLogMethodBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("M", 4096)
	if got := e.send(long, "/healthz", "", ""); got != http.StatusMethodNotAllowed {
		t.Fatalf("%.8s... /healthz = %d, want 405", long, got)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"method":"`+long[:maxLogMethod]+`..."`) {
		t.Errorf("access log lacks the cut method:\n%s", logs)
	}
	if strings.Contains(logs, long[:maxLogMethod+1]) {
		t.Error("access log echoes the whole method")
	}
}

// TestPreflightRouteLabel: a CORS preflight is counted under the route it
// asks about, or as unmatched when there is none.
func TestPreflightRouteLabel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.cfg.CORSOrigins = []string{"https://app.example.com"} })
	for _, path := range []string{"/v1/token", "/v1/users/alice", "/nowhere"} {
		req, err := http.NewRequest("OPTIONS", e.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m := string(e.do("GET", "/metrics", testAdminKey, nil).want(t, http.StatusOK).body)
	for _, want := range []string{
		`authsvc_http_requests_total{method="OPTIONS",route="/v1/token",status="200"} 1`,
		`authsvc_http_requests_total{method="OPTIONS",route="unmatched",status="200"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s\n%s", want, m)
		}
	}
}

const testMetricsToken = "metrics-token-for-tests-0123"

// TestMetricsNeedBearer: on the main listener /metrics takes an admin key
// or the metrics token, nothing else, unless OpenMetrics (--dev) is set.
func TestMetricsNeedBearer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.creds.MetricsToken = []byte(testMetricsToken) })
	session := e.userWithSession("alice")
	for _, cred := range []string{testAdminKey, testAdminKey2, testMetricsToken} {
		if r := e.do("GET", "/metrics", cred, nil).want(t, http.StatusOK); !strings.Contains(string(r.body), "authsvc_build_info") {
			t.Errorf("GET /metrics with %.6s... served %.100q", cred, r.body)
		}
	}
	for _, cred := range []string{"", session, testMetricsToken + "x", testMetricsToken[:len(testMetricsToken)-1], "metrics"} {
		r := e.do("GET", "/metrics", cred, nil)
		r.problem(t, http.StatusUnauthorized, codeUnauthorized)
		if strings.Contains(string(r.body), "authsvc_") {
			t.Errorf("GET /metrics with %.6q leaked metrics", cred)
		}
	}

	open := newEnv(t, func(s *envSetup) { s.cfg.OpenMetrics = true })
	open.do("GET", "/metrics", "", nil).want(t, http.StatusOK)
	open.do("GET", "/metrics", "wrong", nil).want(t, http.StatusOK)
}

func TestMetricsTokenTooShort(t *testing.T) {
	t.Parallel()
	c := *newEnv(t).api.creds.Load()
	c.MetricsToken = []byte(testMetricsToken)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate with a %d-byte metrics token: %v", len(c.MetricsToken), err)
	}
	c.MetricsToken = []byte("short")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "metrics token") {
		t.Errorf("Validate with a 5-byte metrics token = %v, want an error naming it", err)
	}
}

// FuzzRequestLabels: whatever method, path and preflight header a client
// sends, the route and method labels stay in their fixed sets and the
// logged method stays short.
func FuzzRequestLabels(f *testing.F) {
	e := newEnv(f, func(s *envSetup) { s.cfg.CORSOrigins = []string{"https://app.example.com"} })
	routes := map[string]bool{"unmatched": true}
	err := chi.Walk(e.api.mux, func(_, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes[route] = true
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	methods := map[string]bool{labelOther: true}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"} {
		methods[m] = true
	}
	f.Add("GET", "/v1/users/alice", "")
	f.Add("OPTIONS", "/v1/token", "POST")
	f.Add("OPTIONS", "/v1/users/x/y", "DELETE")
	f.Add("M1X", "/no/such", "M2X")
	f.Fuzz(func(t *testing.T, method, path, preflight string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method, r.URL.Path = method, path
		if preflight != "" {
			r.Header.Set("Access-Control-Request-Method", preflight)
		}
		rctx := chi.NewRouteContext()
		r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
		if route := e.api.routeOf(r); !routes[route] {
			t.Errorf("routeOf(%q %q, preflight %q) = %q, not a route pattern", method, path, preflight, route)
		}
		if got := methodLabel(method); !methods[got] {
			t.Errorf("methodLabel(%q) = %q", method, got)
		}
		if got := logMethod(method); len(got) > maxLogMethod+len("...") {
			t.Errorf("logMethod(%q) is %d bytes", method, len(got))
		}
	})
}
