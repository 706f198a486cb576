package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"authsvc/api"
	"authsvc/internal/testlog"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// environFunc lists m as os.Environ does.
func environFunc(m map[string]string) func() []string {
	return func() []string {
		var kv []string
		for k, v := range m {
			kv = append(kv, k+"="+v)
		}
		return kv
	}
}

// server is "authsvc serve" started by run, as main would, on a free port.
type server struct {
	url    string
	stdout *testlog.Buffer
	stderr *testlog.Buffer
	logs   *lineWatch    // stderr too, line by line, to await a log line
	exited chan struct{} // closed when run has returned
	stop   func() error
}

// startServer starts the server and returns once it has logged the address
// it listens on and answered /healthz there. The listener is bound before
// that line is logged, so one request is enough: no polling.
func startServer(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &testlog.Buffer{}, stderr: &testlog.Buffer{}, logs: newLineWatch(), exited: make(chan struct{})}
	var runErr error
	argv := append([]string{"authsvc", "serve", "--addr", "127.0.0.1:0"}, args...)
	go func() {
		defer close(s.exited)
		runErr = runEnv(ctx, argv, envFunc(env), environFunc(env), strings.NewReader(""),
			s.stdout, io.MultiWriter(s.stderr, s.logs))
	}()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case <-s.exited:
				stopErr = runErr
			case <-time.After(hangGuardLong):
				stopErr = fmt.Errorf("server did not stop")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = s.stop() })

	s.logs.await(t, "the listening address", s.exited, func(lines []string) bool {
		for _, l := range lines {
			var line struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "listening" {
				s.url = "http://" + line.Addr
				return true
			}
		}
		return false
	})
	resp, err := (&http.Client{Timeout: hangGuardLong}).Get(s.url + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v\n%s", err, s.stderr)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d, want 200\n%s", resp.StatusCode, s.stderr)
	}
	return s
}

// call sends a JSON request and decodes the JSON answer into out.
func call(t *testing.T, method, url, credential string, body any, want int, out any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d (%s), want %d", method, url, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return b
}

const (
	e2eSecret   = "e2e0123456789abcdef0123456789abc"
	e2eAdminKey = "e2e-admin-key-0123456789abcdef"
	e2ePassword = "e2e password that is long"
)

func productionEnv(t *testing.T) map[string]string {
	return map[string]string{
		"AUTHSVC_DB":            filepath.Join(t.TempDir(), "authsvc.db"),
		"AUTHSVC_APP_ID":        "1234567890",
		"AUTHSVC_SERVER_SECRET": e2eSecret,
		"AUTHSVC_ADMIN_TOKEN":   "old-admin-key-0123456789abcdef," + e2eAdminKey,
		"AUTHSVC_SESSION_KEY":   "e2e-session-key-0123456789abcdef0123456789",
	}
}

// TestEndToEnd runs the whole flow against a server started by run: an
// admin creates a user, the user logs in, gets a token, renews it; the admin
// verifies both; metrics count it all; and no log line carries a secret.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	srv := startServer(t, productionEnv(t))

	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "alice", "password": e2ePassword}, 201, nil)
	var session struct{ AccessToken string }
	call(t, "POST", srv.url+"/v1/sessions", "", map[string]any{"userID": "alice", "password": e2ePassword}, 200, &session)

	var first, renewed api.TokenResponse
	room := map[string]any{"roomID": "room-7", "login": true, "publish": true}
	call(t, "POST", srv.url+"/v1/token", session.AccessToken, map[string]any{"room": room, "effectiveTimeInSeconds": 7200}, 200, &first)
	call(t, "POST", srv.url+"/v1/token/renew", session.AccessToken, map[string]any{"token": first.Token, "effectiveTimeInSeconds": 600}, 200, &renewed)
	if renewed.ExpiresAt < first.ExpiresAt {
		t.Errorf("renewal moved expiry back from %d to %d", first.ExpiresAt, renewed.ExpiresAt)
	}
	if renewed.Room == nil || renewed.Room.RoomID != "room-7" || !renewed.Room.Login || !renewed.Room.Publish {
		t.Errorf("renewal lost the room privileges: %+v", renewed.Room)
	}
	for _, tok := range []api.TokenResponse{first, renewed} {
		var v api.VerifyResponse
		call(t, "POST", srv.url+"/v1/token/verify", e2eAdminKey, map[string]any{"token": tok.Token, "userID": "alice"}, 200, &v)
		if !v.Valid || v.UserID != "alice" || v.Room == nil || v.Room.RoomID != "room-7" {
			t.Errorf("verify = %+v", v)
		}
	}

	metrics := getMetrics(t, srv.url+"/metrics", e2eAdminKey, http.StatusOK)
	for _, want := range []string{
		`authsvc_tokens_issued_total{app_id="1234567890",kind="issue",variant="gcm"} 1`,
		`authsvc_tokens_issued_total{app_id="1234567890",kind="renew",variant="gcm"} 1`,
		`authsvc_users 1`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	if err := srv.stop(); err != nil {
		t.Fatalf("run returned %v after cancellation", err)
	}
	logs := srv.stderr.String() + srv.stdout.String()
	if !strings.Contains(logs, `"route":"/v1/token/renew"`) {
		t.Fatalf("access log missing; got:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"server secret":   e2eSecret,
		"admin key":       e2eAdminKey,
		"password":        e2ePassword,
		"session token":   session.AccessToken,
		"token":           first.Token,
		"renewed token":   renewed.Token,
		"token body":      first.Token[2:40],
		"session payload": session.AccessToken[:30],
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

func TestServeDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, map[string]string{"AUTHSVC_DB": filepath.Join(dir, "dev.db")}, "--dev")
	out := srv.stdout.String()
	var admin string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "admin" && f[1] == "key" {
			admin = f[2]
		}
	}
	if admin == "" {
		t.Fatalf("dev banner shows no admin key:\n%s", out)
	}
	call(t, "POST", srv.url+"/v1/users", admin, map[string]any{"userID": "dev-user", "password": e2ePassword}, 201, nil)
	var session struct{ AccessToken string }
	call(t, "POST", srv.url+"/v1/sessions", "", map[string]any{"userID": "dev-user", "password": e2ePassword}, 200, &session)
	call(t, "POST", srv.url+"/v1/token", session.AccessToken, nil, 200, nil)
	getMetrics(t, srv.url+"/metrics", "", http.StatusOK) // --dev keeps /metrics open
	if strings.Contains(srv.stderr.String(), admin) {
		t.Error("the generated admin key is in the logs")
	}
}

func TestServeConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change map[string]string
		args   []string
		want   string
	}{
		{"no app id", map[string]string{"AUTHSVC_APP_ID": ""}, nil, "AUTHSVC_APP_ID"},
		{"bad app id", map[string]string{"AUTHSVC_APP_ID": "0"}, nil, "AUTHSVC_APP_ID"},
		{"no secret", map[string]string{"AUTHSVC_SERVER_SECRET": ""}, nil, "AUTHSVC_SERVER_SECRET"},
		{"short secret", map[string]string{"AUTHSVC_SERVER_SECRET": "tooshort"}, nil, "got 8"},
		{"missing secret file", map[string]string{"AUTHSVC_SERVER_SECRET": "", "AUTHSVC_SERVER_SECRET_FILE": "/nonexistent/secret"}, nil, "AUTHSVC_SERVER_SECRET"},
		{"no admin key", map[string]string{"AUTHSVC_ADMIN_TOKEN": ""}, nil, "AUTHSVC_ADMIN_TOKEN"},
		{"short admin key", map[string]string{"AUTHSVC_ADMIN_TOKEN": "short"}, nil, "AUTHSVC_ADMIN_TOKEN"},
		{"short session key", map[string]string{"AUTHSVC_SESSION_KEY": "short"}, nil, "AUTHSVC_SESSION_KEY"},
		{"bad ttl", map[string]string{"AUTHSVC_TOKEN_TTL": "soon"}, nil, "AUTHSVC_TOKEN_TTL"},
		{"ttl above 24 days", map[string]string{"AUTHSVC_TOKEN_MAX_TTL": "600h"}, nil, "AUTHSVC_TOKEN_MAX_TTL"},
		{"min above default", map[string]string{"AUTHSVC_TOKEN_MIN_TTL": "2h"}, nil, "AUTHSVC_TOKEN_MIN_TTL"},
		{"bad flag value", nil, []string{"--token-ttl", "x"}, "--token-ttl"},
		{"bad log level", map[string]string{"AUTHSVC_LOG_LEVEL": "loud"}, nil, "AUTHSVC_LOG_LEVEL"},
		{"bad cors origin", map[string]string{"AUTHSVC_CORS_ORIGINS": "app.example.com"}, nil, "AUTHSVC_CORS_ORIGINS"},
		{"cors wildcard", map[string]string{"AUTHSVC_CORS_ORIGINS": "*"}, nil, `AUTHSVC_CORS_ORIGINS: "*"`},
		{"cors pattern", map[string]string{"AUTHSVC_CORS_ORIGINS": "https://app.example.com,https://*"}, nil, `AUTHSVC_CORS_ORIGINS: "https://*"`},
		{"cors path", nil, []string{"--cors-origins", "https://app.example.com/"}, `--cors-origins: "https://app.example.com/"`},
		{"bad proxy", map[string]string{"AUTHSVC_TRUSTED_PROXIES": "10.0.0.0/33"}, nil, "AUTHSVC_TRUSTED_PROXIES"},
		// Errors found after parsing name where the value came from too.
		{"bad proxy flag", nil, []string{"--trusted-proxies", "x"}, `--trusted-proxies: "x" is not an IP address or CIDR`},
		{"short session flag", nil, []string{"--session-ttl", "10s"}, "--session-ttl: 10s is shorter than a minute"},
		{"negative grace flag", nil, []string{"--renew-grace", "-1s"}, "--renew-grace: must not be negative"},
		{"short retention flag", nil, []string{"--audit-retention", "1m"}, "--audit-retention: 1m0s is shorter than an hour"},
		{"bad ttl flag", nil, []string{"--token-ttl", "10s"}, "--token-ttl, --token-min-ttl, --token-max-ttl: "},
		{"bad addr flag", nil, []string{"--addr", "nope"}, "--addr: "},
		{"missing apps file flag", nil, []string{"--apps-file", "/nonexistent/apps.json"}, "--apps-file: "},
		{"secret file flag", map[string]string{"AUTHSVC_SERVER_SECRET": ""}, []string{"--server-secret-file", "/nonexistent/secret"}, "--server-secret-file: read secret file"},
		{"db in a missing directory", map[string]string{"AUTHSVC_DB": "/nonexistent-dir/authsvc.db"}, nil, "directory /nonexistent-dir does not exist"},
		{"duration in days", map[string]string{"AUTHSVC_SESSION_TTL": "1.5d"}, nil, `AUTHSVC_SESSION_TTL: "1.5d" is not a duration such as 90s, 15m, 1h or 7d`},
		{"ipv6 prefix too short", map[string]string{"AUTHSVC_IPV6_PREFIX": "16"}, nil, "AUTHSVC_IPV6_PREFIX"},
		{"ipv6 prefix too long", nil, []string{"--ipv6-prefix", "129"}, "--ipv6-prefix"},
		{"bad idle timeout", map[string]string{"AUTHSVC_IDLE_TIMEOUT": "10ms"}, nil, "AUTHSVC_IDLE_TIMEOUT"},
		{"bad max conns", map[string]string{"AUTHSVC_MAX_CONNS": "0"}, nil, "AUTHSVC_MAX_CONNS"},
		{"max conns not a number", nil, []string{"--max-conns", "many"}, "--max-conns"},
		{"max conns per client negative", nil, []string{"--max-conns-per-client", "-1"}, "--max-conns-per-client"},
		{"ipv6 prefix not a number", map[string]string{"AUTHSVC_IPV6_PREFIX": "/64"}, nil, "AUTHSVC_IPV6_PREFIX"},
		{"console not a boolean", map[string]string{"AUTHSVC_CONSOLE": "maybe"}, nil, `AUTHSVC_CONSOLE: "maybe" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := productionEnv(t)
			for k, v := range tt.change {
				env[k] = v
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"authsvc", "serve"}, tt.args...), envFunc(env), strings.NewReader(""), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), e2eSecret) || strings.Contains(err.Error(), e2eAdminKey) {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
}

// runQuiet runs a command that is expected to fail before serving.
func runQuiet(env map[string]string, args ...string) error {
	var out, errOut bytes.Buffer
	return run(context.Background(), append([]string{"authsvc"}, args...), envFunc(env), strings.NewReader(""), &out, &errOut)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestMetricsListener: with AUTHSVC_METRICS_ADDR, metrics move to their own
// listener and the main one no longer serves them.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	env["AUTHSVC_METRICS_ADDR"] = "127.0.0.1:0"
	srv := startServer(t, env)
	var metricsURL string
	sc := bufio.NewScanner(strings.NewReader(srv.stderr.String()))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "metrics listening" {
			metricsURL = "http://" + line.Addr + "/metrics"
		}
	}
	if metricsURL == "" {
		t.Fatalf("no metrics listener logged:\n%s", srv.stderr)
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "authsvc_build_info") {
		t.Errorf("metrics listener: %d %.200s", resp.StatusCode, body)
	}
	// The metrics listener serves nothing else.
	other, err := http.Get(strings.TrimSuffix(metricsURL, "/metrics") + "/v1/users")
	if err != nil {
		t.Fatal(err)
	}
	other.Body.Close()
	if other.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v1/users on the metrics listener: %d, want 404", other.StatusCode)
	}
	call(t, "GET", srv.url+"/metrics", "", nil, http.StatusNotFound, nil)
}

// getMetrics fetches a metrics exposition with an optional bearer.
func getMetrics(t *testing.T, url, credential string, want int) string {
	t.Helper()
	return string(call(t, "GET", url, credential, nil, want, nil))
}

// TestMetricsBearer: outside --dev, /metrics on the main listener takes an
// admin key or AUTHSVC_METRICS_TOKEN(_FILE), and refuses anything else.
func TestMetricsBearer(t *testing.T) {
	t.Parallel()
	const metricsToken = "e2e-metrics-token-0123456789"
	env := productionEnv(t)
	file := filepath.Join(t.TempDir(), "metrics-token")
	if err := os.WriteFile(file, []byte(metricsToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["AUTHSVC_METRICS_TOKEN_FILE"] = file
	srv := startServer(t, env)
	if m := getMetrics(t, srv.url+"/metrics", metricsToken, http.StatusOK); !strings.Contains(m, "authsvc_build_info") {
		t.Errorf("metrics token: got %.200s", m)
	}
	getMetrics(t, srv.url+"/metrics", e2eAdminKey, http.StatusOK)
	for _, cred := range []string{"", "wrong-token-0123456789", metricsToken + "x"} {
		if m := getMetrics(t, srv.url+"/metrics", cred, http.StatusUnauthorized); !strings.Contains(m, `"code":"unauthorized"`) {
			t.Errorf("bearer %.6q: got %.200s, want an unauthorized problem", cred, m)
		}
	}
	if strings.Contains(srv.stderr.String(), metricsToken) {
		t.Error("the logs contain the metrics token")
	}

	env = productionEnv(t)
	env["AUTHSVC_METRICS_TOKEN"] = "short"
	if err := runQuiet(env, "serve", "--addr", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "AUTHSVC_METRICS_TOKEN") || strings.Contains(err.Error(), "short") {
		t.Errorf("a 5-byte metrics token: %v, want an error naming the variable, not the value", err)
	}
}

// TestNewDatabaseWarning: serve warns when it had to create the database
// file, and not when the file was there.
func TestNewDatabaseWarning(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	const warning = "created a new, empty database"
	first := startServer(t, env)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.stderr.String(), warning) || !strings.Contains(first.stderr.String(), `"level":"WARN"`) {
		t.Errorf("first start on a new file did not warn:\n%s", first.stderr)
	}
	second := startServer(t, env)
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(second.stderr.String(), warning) {
		t.Errorf("start on an existing file warned:\n%s", second.stderr)
	}
}
