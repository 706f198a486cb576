package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpShowsTypesAndDefaults: -h lists every flag with its type and
// default, and is not an error.
func TestHelpShowsTypesAndDefaults(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"serve", "-h"}, []string{"--token-ttl duration", "(default 1h, env AUTHSVC_TOKEN_TTL)", "--db string", "--app-id uint32", "--dev  "}},
		{[]string{"token", "mint", "-h"}, []string{"--ttl duration", "(default 1h)", "--stream string", "--app-id uint32"}},
		{[]string{"token", "decode", "-h"}, []string{"--secret-file string"}},
		{[]string{"user", "list", "-h"}, []string{"--limit int", "(default 100)", "--db string", "(default authsvc.db, env AUTHSVC_DB)", "--create"}},
		{[]string{"user", "add", "--help"}, []string{"--user-id string", "--password-stdin"}},
		{[]string{"migrate", "-h"}, []string{"--db string", "--create"}},
		{[]string{"backup", "-h"}, []string{"--to string", "--force", "VACUUM INTO"}},
		{[]string{"zim", "sync", "-h"}, []string{"--app-id uint32", "--all"}},
		{[]string{"healthcheck", "-h"}, []string{"--timeout duration", "(default 3s)", "--ready"}},
	}
	for _, tt := range tests {
		out, errOut, code := c.run("", tt.args...)
		if code != 0 {
			t.Errorf("authsvc %q: exit %d", tt.args, code)
		}
		// Only the commands that can start a database offer to.
		if (tt.args[0] == "backup" || tt.args[0] == "zim") && strings.Contains(out+errOut, "--create") {
			t.Errorf("authsvc %q help offers --create, which it has no use for:\n%s", tt.args, out+errOut)
		}
		for _, want := range tt.want {
			if !strings.Contains(out+errOut, want) {
				t.Errorf("authsvc %q help lacks %q:\n%s", tt.args, want, out+errOut)
			}
		}
	}
}

// TestUsageErrorsHint: a mistake on the command line prints the error and
// a one-line hint, not the whole usage.
func TestUsageErrorsHint(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	tests := []struct {
		args []string
		hint string
	}{
		{[]string{"serve", "--bogus"}, "run 'authsvc serve -h'"},
		{[]string{"serve", "extra"}, "run 'authsvc serve -h'"},
		{[]string{"token", "mint", "--ttl"}, "run 'authsvc token mint -h'"},
		{[]string{"token", "decode"}, "run 'authsvc token decode -h'"},
		{[]string{"token"}, "run 'authsvc token help'"},
		{[]string{"user", "get"}, "run 'authsvc user get -h'"},
		{[]string{"user", "list", "--limit", "many"}, "run 'authsvc user list -h'"},
		{[]string{"user", "frob"}, "run 'authsvc user help'"},
		{[]string{"migrate", "--bogus"}, "run 'authsvc migrate -h'"},
		{[]string{"healthcheck", "--timeout", "x"}, "run 'authsvc healthcheck -h'"},
		{[]string{"frob"}, "run 'authsvc help'"},
	}
	for _, tt := range tests {
		out, errOut, code := c.run("", tt.args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != 2 || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[1], tt.hint) || strings.Contains(errOut, "Usage") {
			t.Errorf("authsvc %q = exit %d, stdout %q, stderr %q; want exit 2, the error and %q", tt.args, code, out, errOut, tt.hint)
		}
	}
	if msg := c.fails(2, "serve", "--bogus"); !strings.Contains(msg, "serve: flag provided but not defined: --bogus") {
		t.Errorf("serve --bogus: %q", msg)
	}
}

// TestFlagsAfterArguments: every command takes its flags before or after
// its arguments.
func TestFlagsAfterArguments(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	other := filepath.Join(t.TempDir(), "other.db")
	c.ok("", "migrate", "--create", "--db", other)
	c.ok("", "user", "add", "--user-id", "ann", "--db", other)
	if got := decodeUser(t, c.ok("", "user", "get", "ann", "--db", other, "--json")); got.UserID != "ann" {
		t.Errorf("user get ann --db --json = %+v", got)
	}
	c.ok("", "user", "disable", "ann", "--db", other)
	c.ok("", "backup", "--to", filepath.Join(t.TempDir(), "b.db"), "--db", other)
	env := secretEnvMap(cmdSecret)
	tok, _, code := cliRun(t, env, "", "token", "mint", "--app-id", "1", "--user-id", "u")
	if code != 0 {
		t.Fatal("mint failed")
	}
	if _, errOut, code := cliRun(t, env, "", "token", "decode", strings.TrimSpace(tok), "--secret-file", filepath.Join(t.TempDir(), "none")); code != 1 || !strings.Contains(errOut, "--secret-file") {
		t.Errorf("token decode TOKEN --secret-file F: exit %d, %q; want the flag read", code, errOut)
	}
}
