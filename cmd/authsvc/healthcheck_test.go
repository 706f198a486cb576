package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// healthcheck runs "authsvc healthcheck args..." through run, as main would.
func healthcheck(t *testing.T, env map[string]string, args ...string) error {
	t.Helper()
	var stdout, stderr bytes.Buffer
	argv := append([]string{"authsvc", "healthcheck"}, args...)
	return run(context.Background(), argv, envFunc(env), strings.NewReader(""), &stdout, &stderr)
}

func TestHealthzURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, want string
	}{
		{"", "http://127.0.0.1:8080/healthz"},
		{":8080", "http://127.0.0.1:8080/healthz"},
		{":9000", "http://127.0.0.1:9000/healthz"},
		{"0.0.0.0:9000", "http://127.0.0.1:9000/healthz"},
		{"[::]:9000", "http://127.0.0.1:9000/healthz"},
		{"localhost:9000", "http://127.0.0.1:9000/healthz"},
		{"authsvc.internal:9000", "http://127.0.0.1:9000/healthz"},
		{"127.0.0.1:8080", "http://127.0.0.1:8080/healthz"},
		{"10.1.2.3:8080", "http://10.1.2.3:8080/healthz"},
		{"[::1]:8080", "http://[::1]:8080/healthz"},
		{"[fd00::7]:8080", "http://[fd00::7]:8080/healthz"},
	}
	for _, tt := range tests {
		got, err := healthzURL(tt.addr, "/healthz")
		if err != nil || got != tt.want {
			t.Errorf("healthzURL(%q) = %q, %v, want %q", tt.addr, got, err, tt.want)
		}
	}
	for _, addr := range []string{"8080", "127.0.0.1", ":0", "127.0.0.1:", ":nosuchservice"} {
		if got, err := healthzURL(addr, "/healthz"); err == nil || !strings.Contains(err.Error(), "AUTHSVC_ADDR") {
			t.Errorf("healthzURL(%q) = %q, %v, want an error naming AUTHSVC_ADDR", addr, got, err)
		}
	}
}

// TestHealthcheckLive probes a server started by run, by URL and by the
// address in AUTHSVC_ADDR, as the container's HEALTHCHECK does.
func TestHealthcheckLive(t *testing.T) {
	t.Parallel()
	srv := startServer(t, productionEnv(t))
	u, err := url.Parse(srv.url)
	if err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"--url", nil, []string{"--url", srv.url + "/healthz"}},
		{"argument", nil, []string{srv.url + "/healthz"}},
		{"base URL", nil, []string{srv.url}},
		{"base URL with a slash, --ready after it", nil, []string{srv.url + "/", "--ready"}},
		{"AUTHSVC_ADDR --ready", map[string]string{"AUTHSVC_ADDR": u.Host}, []string{"--ready"}},
		{"AUTHSVC_ADDR ip", map[string]string{"AUTHSVC_ADDR": u.Host}, nil},
		{"AUTHSVC_ADDR port only", map[string]string{"AUTHSVC_ADDR": ":" + port}, []string{"--timeout", "5s"}},
		{"AUTHSVC_ADDR wildcard", map[string]string{"AUTHSVC_ADDR": "0.0.0.0:" + port}, nil},
	}
	for _, tt := range tests {
		if err := healthcheck(t, tt.env, tt.args...); err != nil {
			t.Errorf("%s: healthcheck = %v, want success", tt.name, err)
		}
	}
}

// TestHealthcheckUnhealthy checks that every way of not answering 200 is
// exit status 1 with a one-line reason.
func TestHealthcheckUnhealthy(t *testing.T) {
	t.Parallel()

	// A port that was just closed: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)

	redirect := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	t.Cleanup(redirect.Close)

	// A server that never answers. It lets go when the client hangs up,
	// which it reports, or at the end of the test at worst.
	release := make(chan struct{})
	hungUp := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			hungUp <- struct{}{}
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs before slow.Close

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"dead", []string{"--url", dead}, dead},
		{"503", []string{"--url", unavailable.URL + "/healthz"}, "503"},
		{"redirect", []string{"--url", redirect.URL + "/healthz"}, "302"},
		{"timeout", []string{"--timeout", "200ms", "--url", slow.URL + "/healthz"}, "no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := healthcheck(t, nil, tt.args...)
			if tt.name == "timeout" {
				// The check gave up on its own: the server saw it hang up.
				select {
				case <-hungUp:
				case <-time.After(hangGuardLong):
					t.Errorf("healthcheck returned, but the server never saw it hang up")
				}
			}
			if code := exitCode(err); code != 1 {
				t.Fatalf("healthcheck %q = %v (exit %d), want exit 1", tt.args, err, code)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("healthcheck %q says %q, want one line mentioning %q", tt.args, msg, tt.want)
			}
		})
	}
}

// TestHealthcheckBaseURL: a base URL is probed at /healthz, or /readyz with
// --ready; a URL with a path is probed as it is.
func TestHealthcheckBaseURL(t *testing.T) {
	t.Parallel()
	paths := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{srv.URL}, "/healthz"},
		{[]string{srv.URL + "/"}, "/healthz"},
		{[]string{"--ready", srv.URL}, "/readyz"},
		{[]string{"--url", srv.URL, "--ready"}, "/readyz"},
		{[]string{srv.URL + "/custom"}, "/custom"},
	}
	for _, tt := range tests {
		if err := healthcheck(t, nil, tt.args...); err != nil {
			t.Errorf("healthcheck %q = %v", tt.args, err)
			continue
		}
		if got := <-paths; got != tt.want {
			t.Errorf("healthcheck %q probed %s, want %s", tt.args, got, tt.want)
		}
	}
}

func TestHealthcheckBadAddr(t *testing.T) {
	t.Parallel()
	err := healthcheck(t, map[string]string{"AUTHSVC_ADDR": "no-port"})
	if code := exitCode(err); code != 1 || !strings.Contains(err.Error(), "AUTHSVC_ADDR") {
		t.Errorf("healthcheck with AUTHSVC_ADDR=no-port = %v (exit %d), want exit 1 naming AUTHSVC_ADDR", err, code)
	}
}

func TestHealthcheckUsage(t *testing.T) {
	t.Parallel()
	tests := [][]string{
		{"--no-such-flag"},
		{"--timeout", "soon"},
		{"--timeout", "-1d"},
		{"--timeout", "0s"},
		{"--url", "ftp://127.0.0.1/healthz"},
		{"--url", "127.0.0.1:8080/healthz"},
		{"http://127.0.0.1:1/healthz", "http://127.0.0.1:2/healthz"},
		{"--url", "http://127.0.0.1:1/healthz", "http://127.0.0.1:2/healthz"},
	}
	for _, args := range tests {
		if err := healthcheck(t, nil, args...); exitCode(err) != 2 {
			t.Errorf("healthcheck %q = %v, want exit 2", args, err)
		}
	}
	err := healthcheck(t, nil, "--timeout", "soon")
	if want := `healthcheck: --timeout: "soon" is not a duration such as 90s, 15m, 1h or 7d` + "\nrun 'authsvc healthcheck -h'"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("healthcheck --timeout soon = %v, want %q", err, want)
	}
	if err := healthcheck(t, nil, "-h"); err != nil {
		t.Errorf("healthcheck -h = %v, want nil", err)
	}
}
