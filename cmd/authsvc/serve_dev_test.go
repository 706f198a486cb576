package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"authsvc/api"
	"authsvc/internal/sqldb"
	"authsvc/internal/testlog"
)

// logLines decodes the JSON log lines with message msg.
func logLines(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// bannerValue reads a "label   value" line of the dev banner.
func bannerValue(t *testing.T, out, label string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), label+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("dev banner has no %q:\n%s", label, out)
	return ""
}

// TestServeDevKeepsSecrets: a restarted dev server accepts the last one's
// sessions and renews its tokens; --reset starts over.
func TestServeDevKeepsSecrets(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "dev.db")
	env := map[string]string{"AUTHSVC_DB": db}
	state := devStateFile(db)

	srv := startServer(t, env, "--dev")
	out := srv.stdout.String()
	admin, secret := bannerValue(t, out, "admin key"), bannerValue(t, out, "ServerSecret")
	if !strings.Contains(out, state) {
		t.Errorf("dev banner does not say where the secrets are kept (%s):\n%s", state, out)
	}
	call(t, "POST", srv.url+"/v1/users", admin, map[string]any{"userID": "dev-user", "password": e2ePassword}, 201, nil)
	var session struct{ AccessToken string }
	call(t, "POST", srv.url+"/v1/sessions", "", map[string]any{"userID": "dev-user", "password": e2ePassword}, 200, &session)
	var tok api.TokenResponse
	call(t, "POST", srv.url+"/v1/token", session.AccessToken, nil, 200, &tok)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatalf("no state file: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("state file mode %v, want 0600", m)
	}

	// Restarted: the same secrets, yesterday's session and token still work.
	srv = startServer(t, env, "--dev")
	out = srv.stdout.String()
	if got := bannerValue(t, out, "admin key"); got != admin {
		t.Errorf("restarted dev server has admin key %q, want the kept %q", got, admin)
	}
	if got := bannerValue(t, out, "ServerSecret"); got != secret {
		t.Errorf("restarted dev server has another ServerSecret")
	}
	call(t, "POST", srv.url+"/v1/token", session.AccessToken, nil, 200, nil)
	var renewed api.TokenResponse
	call(t, "POST", srv.url+"/v1/token/renew", session.AccessToken, map[string]any{"token": tok.Token}, 200, &renewed)
	if renewed.UserID != "dev-user" || renewed.ExpiresAt < tok.ExpiresAt {
		t.Errorf("renewal after restart = %+v", renewed)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(srv.stderr.String(), admin) || strings.Contains(srv.stderr.String(), secret) {
		t.Error("the logs contain a dev secret")
	}

	// --reset: new secrets; the old session ends, the users stay.
	srv = startServer(t, env, "--dev", "--reset")
	newAdmin := bannerValue(t, srv.stdout.String(), "admin key")
	if newAdmin == admin {
		t.Error("--reset kept the admin key")
	}
	call(t, "POST", srv.url+"/v1/token", session.AccessToken, nil, 401, nil)
	call(t, "GET", srv.url+"/v1/users/dev-user", newAdmin, nil, 200, nil)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	var kept devState
	b, err := os.ReadFile(state)
	if err != nil || json.Unmarshal(b, &kept) != nil || kept.AdminKey != newAdmin {
		t.Errorf("after --reset the state file holds %s, %v; want the new admin key", b, err)
	}

	if err := runQuiet(env, "serve", "--reset"); err == nil || !strings.Contains(err.Error(), "--reset: only with --dev") {
		t.Errorf("serve --reset without --dev = %v", err)
	}
	if err := os.WriteFile(state, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runQuiet(env, "serve", "--dev"); err == nil || !strings.Contains(err.Error(), "--reset") {
		t.Errorf("serve --dev with a broken state file = %v, want it to suggest --reset", err)
	}
}

// TestServeStartupLog: serve warns about AUTHSVC_ variables it does not
// know, without their values; logs its configuration in one line without
// secrets; logs the version "authsvc version" prints; and keeps the
// database's files private.
func TestServeStartupLog(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	env["AUTHSVC_TOKENTTL"] = "2h"
	env["AUTHSVC_ADMIN_TOKENS"] = "typo-of-a-secret-0123456789"
	env["AUTHSVC_TOKEN_TTL"] = "90m"
	srv := startServer(t, env, "--renew-grace", "1d")
	defer srv.stop()
	trail := sqldb.AuditPath(env["AUTHSVC_DB"])
	for _, name := range []string{env["AUTHSVC_DB"], env["AUTHSVC_DB"] + "-wal", env["AUTHSVC_DB"] + "-shm", trail, trail + "-wal", trail + "-shm"} {
		if fi, err := os.Stat(name); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(name), fi.Mode())
		}
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	logs := srv.stderr.String()

	var warned []string
	for _, l := range logLines(t, logs, "unknown environment variable ignored") {
		warned = append(warned, l["name"].(string))
		if l["name"] == "AUTHSVC_TOKENTTL" && l["did_you_mean"] != "AUTHSVC_TOKEN_TTL" {
			t.Errorf("warning %v does not suggest AUTHSVC_TOKEN_TTL", l)
		}
	}
	if want := []string{"AUTHSVC_ADMIN_TOKENS", "AUTHSVC_TOKENTTL"}; !cmp.Equal(warned, want) {
		t.Errorf("warned about %v, want %v", warned, want)
	}
	if strings.Contains(logs, env["AUTHSVC_ADMIN_TOKENS"]) {
		t.Error("a warning shows the value of an unknown variable")
	}

	cfgs := logLines(t, logs, "configuration")
	if len(cfgs) != 1 {
		t.Fatalf("%d configuration lines, want 1:\n%s", len(cfgs), logs)
	}
	c := cfgs[0]
	for k, want := range map[string]any{"token-ttl": "90m", "renew-grace": "1d", "db": env["AUTHSVC_DB"], "addr": "127.0.0.1:0"} {
		if c[k] != want {
			t.Errorf("configuration %s = %v, want %v", k, c[k], want)
		}
	}
	if sec, _ := c["secrets"].(map[string]any); sec["AUTHSVC_SERVER_SECRET"] != "AUTHSVC_SERVER_SECRET" ||
		sec["AUTHSVC_JWT_HS256_SECRET"] != "unset" {
		t.Errorf("configuration secrets = %v, want where each comes from", c["secrets"])
	}
	line, _ := json.Marshal(c)
	for _, v := range secretVariables() {
		if env[v] != "" && strings.Contains(string(line), strings.Split(env[v], ",")[0]) {
			t.Errorf("the configuration line shows %s", v)
		}
	}

	listening := logLines(t, logs, "listening")
	if len(listening) != 1 {
		t.Fatalf("%d listening lines", len(listening))
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, code := newCLI(t).run("", args...)
		if code != 0 || strings.TrimSpace(out) != listening[0]["version"] {
			t.Errorf("authsvc %s = %q (exit %d), serve logged version %v", args[0], out, code, listening[0]["version"])
		}
	}
}

// TestKnownEnvFollowsSettings: a setting declared for serve is known
// without being listed anywhere else, and so is a secret's value variable.
func TestKnownEnvFollowsSettings(t *testing.T) {
	t.Parallel()
	s := serveSettings(flag.NewFlagSet("serve", flag.ContinueOnError), func(string) string { return "" })
	s.addText("brand-new", "", "a setting added later")   // AUTHSVC_BRAND_NEW
	s.addText("new-key-file", "", "a secret added later") // AUTHSVC_NEW_KEY_FILE
	var logs testlog.Buffer
	environ := []string{"AUTHSVC_BRAND_NEW=1", "AUTHSVC_NEW_KEY=x", "AUTHSVC_NEW_KEY_FILE=f", "AUTHSVC_SERVER_SECRET=s",
		"AUTHSVC_BRANDNEW=typo", "HOME=/root", "authsvc_lower=1"}
	warnUnknownEnv(slog.New(slog.NewJSONHandler(&logs, nil)), s, environ)
	var warned []string
	for _, l := range logLines(t, logs.String(), "unknown environment variable ignored") {
		warned = append(warned, l["name"].(string))
	}
	if want := []string{"AUTHSVC_BRANDNEW", "authsvc_lower"}; !cmp.Equal(warned, want) {
		t.Errorf("warned about %v, want %v", warned, want)
	}
}

// TestServeWarnsAboutWideFileMode: a database or an audit trail file others
// may read, made before authsvc created them 0600, is reported at startup.
func TestServeWarnsAboutWideFileMode(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	for _, f := range []string{env["AUTHSVC_DB"], sqldb.AuditPath(env["AUTHSVC_DB"])} {
		if err := os.WriteFile(f, nil, 0o644); err != nil { // an empty file is an empty database
			t.Fatal(err)
		}
		if err := os.Chmod(f, 0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	srv := startServer(t, env)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"database file", "audit trail's file"} {
		lines := logLines(t, srv.stderr.String(), "the "+what+" is readable by other users; chmod 600 it and its -wal and -shm files")
		if len(lines) != 1 || lines[0]["mode"] != "-rw-r--r--" {
			t.Errorf("warnings about the %s's mode: %v", what, lines)
		}
	}
	// A database authsvc created draws no warning.
	srv = startServer(t, productionEnv(t))
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(srv.stderr.String(), "readable by other users") {
		t.Error("a new database draws the file mode warning")
	}
}

// TestServeWarnsAboutMissingTrail: a database whose audit trail file is
// gone (restored without it, deleted) starts with a new, empty one, and
// says so; a first start does not.
func TestServeWarnsAboutMissingTrail(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	const warning = "created a new, empty audit trail file; if the trail was expected there, restore it beside the database"
	srv := startServer(t, env)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if lines := logLines(t, srv.stderr.String(), warning); len(lines) != 0 {
		t.Errorf("a first start warns: %v", lines)
	}
	trail := sqldb.AuditPath(env["AUTHSVC_DB"])
	if err := os.Remove(trail); err != nil {
		t.Fatal(err)
	}
	srv = startServer(t, env)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(trail)
	if lines := logLines(t, srv.stderr.String(), warning); len(lines) != 1 || lines[0]["file"] != abs {
		t.Errorf("warnings about the missing trail: %v", lines)
	}
}
