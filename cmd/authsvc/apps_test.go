package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"authsvc/api"
	"authsvc/internal/token"
)

const (
	secretA    = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	secretB    = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	secretBNew = "cccccccccccccccccccccccccccccccc"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustKey(t *testing.T, secret string) *token.Key {
	t.Helper()
	k, err := token.NewKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// appsEnv configures two apps: 111 with an inline secret, 222 (the
// default) with its secret in a file next to the apps file.
func appsEnv(t *testing.T) (map[string]string, string) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.secret"), secretB+"\n")
	apps := map[string]any{
		"default": 222,
		"apps": []map[string]any{
			{"appID": 111, "secret": secretA, "tokenTTL": "10m", "tokenMaxTTL": "1h"},
			{"appID": 222, "secretFile": "b.secret"},
		},
	}
	b, _ := json.Marshal(apps)
	writeFile(t, filepath.Join(dir, "apps.json"), string(b))
	env := productionEnv(t)
	delete(env, "AUTHSVC_APP_ID")
	delete(env, "AUTHSVC_SERVER_SECRET")
	env["AUTHSVC_APPS_FILE"] = filepath.Join(dir, "apps.json")
	return env, dir
}

func TestSeveralApps(t *testing.T) {
	t.Parallel()
	env, _ := appsEnv(t)
	srv := startServer(t, env)
	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "alice"}, 201, nil)

	var a, b, def api.TokenResponse
	call(t, "POST", srv.url+"/v1/token", e2eAdminKey, map[string]any{"userID": "alice", "appID": 111}, 200, &a)
	call(t, "POST", srv.url+"/v1/token", e2eAdminKey, map[string]any{"userID": "alice", "appID": 222}, 200, &b)
	call(t, "POST", srv.url+"/v1/token", e2eAdminKey, map[string]any{"userID": "alice"}, 200, &def)
	if a.AppID != 111 || b.AppID != 222 || def.AppID != 222 {
		t.Errorf("appIDs = %d, %d, default %d", a.AppID, b.AppID, def.AppID)
	}
	for _, tc := range []struct {
		tok           string
		own, other    string
		wantAppInside uint32
	}{{a.Token, secretA, secretB, 111}, {b.Token, secretB, secretA, 222}} {
		c, _, err := mustKey(t, tc.own).Decode(tc.tok)
		if err != nil || c.AppID != tc.wantAppInside {
			t.Errorf("token of app %d with its own secret: %+v, %v", tc.wantAppInside, c, err)
		}
		if _, _, err := mustKey(t, tc.other).Decode(tc.tok); err == nil {
			t.Errorf("token of app %d decodes with the other app's secret", tc.wantAppInside)
		}
	}
	// Per-app lifetimes: app 111 defaults to 10 minutes and allows at most 1 hour.
	// The token's own issue time, not the clock here, so a slow machine
	// cannot make it look shorter.
	if c, _, err := mustKey(t, secretA).Decode(a.Token); err != nil || c.ExpiresAt-c.IssuedAt != 600 || c.ExpiresAt != a.ExpiresAt {
		t.Errorf("app 111 token %+v (%v), expiresAt %d; want it to live its 600 s default", c, err, a.ExpiresAt)
	}
	call(t, "POST", srv.url+"/v1/token", e2eAdminKey, map[string]any{"userID": "alice", "appID": 111, "effectiveTimeInSeconds": 7200}, 400, nil)
	call(t, "POST", srv.url+"/v1/token", e2eAdminKey, map[string]any{"userID": "alice", "appID": 333}, 400, nil)

	// Renew and verify find the app from the token itself.
	var renewed api.TokenResponse
	call(t, "POST", srv.url+"/v1/token/renew", e2eAdminKey, map[string]any{"token": a.Token}, 200, &renewed)
	if renewed.AppID != 111 {
		t.Errorf("renewed token is for app %d, want 111", renewed.AppID)
	}
	var v struct {
		Valid bool
		AppID uint32
	}
	call(t, "POST", srv.url+"/v1/token/verify", e2eAdminKey, map[string]any{"token": a.Token}, 200, &v)
	if !v.Valid || v.AppID != 111 {
		t.Errorf("verify = %+v", v)
	}
	call(t, "POST", srv.url+"/v1/token/verify", e2eAdminKey, map[string]any{"token": a.Token, "appID": 222}, 200, &v)
	if v.Valid {
		t.Error("app 111's token verified as app 222's")
	}
}

// TestRotationWithSIGHUP: a token minted with the old secret still renews
// after the secret changed and SIGHUP was sent, and the new token uses the
// new secret. A broken file on a later SIGHUP keeps the running setup.
func TestRotationWithSIGHUP(t *testing.T) {
	env, dir := appsEnv(t)
	writeFile(t, filepath.Join(dir, "metrics-token"), "old-metrics-token-0123456789\n")
	env["AUTHSVC_METRICS_TOKEN_FILE"] = filepath.Join(dir, "metrics-token")
	srv := startServer(t, env)
	getMetrics(t, srv.url+"/metrics", "old-metrics-token-0123456789", http.StatusOK)
	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "alice"}, 201, nil)
	var old api.TokenResponse
	call(t, "POST", srv.url+"/v1/token", e2eAdminKey, map[string]any{"userID": "alice"}, 200, &old)

	// Rotate: new current secret, the old one kept as previous.
	writeFile(t, filepath.Join(dir, "b.new.secret"), secretBNew)
	apps := `{"default":222,"apps":[{"appID":111,"secret":"` + secretA + `"},
		{"appID":222,"secretFile":"b.new.secret","previousSecretFiles":["b.secret"]}]}`
	writeFile(t, filepath.Join(dir, "apps.json"), apps)
	writeFile(t, filepath.Join(dir, "metrics-token"), "new-metrics-token-0123456789\n")
	sighup(t, srv, 1)
	getMetrics(t, srv.url+"/metrics", "new-metrics-token-0123456789", http.StatusOK)
	getMetrics(t, srv.url+"/metrics", "old-metrics-token-0123456789", http.StatusUnauthorized)

	var renewed api.TokenResponse
	call(t, "POST", srv.url+"/v1/token/renew", e2eAdminKey, map[string]any{"token": old.Token}, 200, &renewed)
	if _, _, err := mustKey(t, secretBNew).Decode(renewed.Token); err != nil {
		t.Errorf("renewed token is not under the new secret: %v", err)
	}
	if _, _, err := mustKey(t, secretB).Decode(renewed.Token); err == nil {
		t.Error("renewed token still uses the old secret")
	}

	// A broken apps file is refused; the running configuration stays.
	writeFile(t, filepath.Join(dir, "apps.json"), `{"apps":[{"appID":222,"secret":"short"}]}`)
	sighup(t, srv, 2)
	if !strings.Contains(srv.stderr.String(), "reload failed") {
		t.Errorf("bad reload not logged:\n%s", srv.stderr)
	}
	call(t, "POST", srv.url+"/v1/token/renew", e2eAdminKey, map[string]any{"token": old.Token}, 200, &renewed)
	if strings.Contains(srv.stderr.String(), "short") {
		t.Error("the log repeats the rejected secret")
	}
}

// sighup signals this process and waits for the server to log the n-th
// reload attempt.
func sighup(t *testing.T, srv *server, n int) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	srv.logs.await(t, fmt.Sprintf("reload attempt %d", n), srv.exited, func(lines []string) bool {
		seen := 0
		for _, l := range lines {
			if strings.Contains(l, "reloaded credentials") || strings.Contains(l, "reload failed") {
				seen++
			}
		}
		return seen >= n
	})
}
