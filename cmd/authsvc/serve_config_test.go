package main

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"authsvc/internal/ratelimit"
)

// TestParseServeConfigSources: a value is parsed when it is set, and its
// error names where it came from: the flag, or the variable applied
// through flag.Set. The command line wins, so a bad variable under a good
// flag is never read.
func TestParseServeConfigSources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		want  string // in the error; "" for none
		usage bool   // a usage error, exit status 2
	}{
		{"flag", nil, []string{"--token-ttl", "soon"}, `serve: --token-ttl: "soon" is not a duration`, true},
		{"variable", map[string]string{"AUTHSVC_TOKEN_TTL": "soon"}, nil, `AUTHSVC_TOKEN_TTL: "soon" is not a duration`, false},
		{"flag wins", map[string]string{"AUTHSVC_TOKEN_TTL": "soon"}, []string{"--token-ttl", "2h"}, "", false},
		{"uint32 variable", map[string]string{"AUTHSVC_APP_ID": "0"}, nil, `AUTHSVC_APP_ID: "0" is not a number from 1`, false},
		{"int flag", nil, []string{"--ipv6-prefix", "16"}, `--ipv6-prefix: "16" is not a prefix length from 32 to 128`, true},
		{"bool variable", map[string]string{"AUTHSVC_DEV": "yes please"}, nil, `AUTHSVC_DEV: "yes please" is not true or false`, false},
		{"limit variable", map[string]string{"AUTHSVC_RATE_TOKEN": "lots"}, nil, "AUTHSVC_RATE_TOKEN: ", false},
		{"log level flag", nil, []string{"--log-level", "loud"}, `--log-level: "loud" is not one of debug`, true},
		{"legacy twin", map[string]string{"AUTHSVC_DEV_RESET": "maybe"}, nil, `AUTHSVC_DEV_RESET: "maybe" is not true or false`, false},
		{"reset without dev", map[string]string{"AUTHSVC_DEV_RESET": "true"}, nil, "AUTHSVC_DEV_RESET: only with --dev", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseServeConfig(tt.args, envFunc(tt.env))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("parseServeConfig(%q, %v) = %v", tt.args, tt.env, err)
				}
				if cfg.rates.Token.String() == "" || cfg.shutdownTimeout != 15*time.Second {
					t.Errorf("parseServeConfig(%q, %v): config %+v lacks its defaults", tt.args, tt.env, cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseServeConfig(%q, %v) = %v, want an error containing %q", tt.args, tt.env, err, tt.want)
			}
			if got := exitCode(err) == 2; got != tt.usage {
				t.Errorf("parseServeConfig(%q, %v) = %v: exit %d, want a usage error %v", tt.args, tt.env, err, exitCode(err), tt.usage)
			}
		})
	}
}

// TestRateLimitsTakeDays: a limit's duration reads like every other
// duration setting, days included.
func TestRateLimitsTakeDays(t *testing.T) {
	t.Parallel()
	cfg, err := parseServeConfig([]string{"--rate-login-user", "100/1d", "--rate-token", "1000/d"}, envFunc(map[string]string{"AUTHSVC_DEV": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.rates.LoginUser; got != (ratelimit.Limit{Count: 100, Per: 24 * time.Hour}) {
		t.Errorf("--rate-login-user 100/1d = %v, want 100 a day", got)
	}
	if got := cfg.rates.Token; got != (ratelimit.Limit{Count: 1000, Per: 24 * time.Hour}) {
		t.Errorf("--rate-token 1000/d = %v, want 1000 a day", got)
	}
}

// TestTrustedProxiesUnmapped: a proxy written as an IPv4-mapped IPv6
// address or range is trusted as the IPv4 one it maps, which is how peers
// are matched; other entries are kept as they are, host bits and zones
// dropped.
func TestTrustedProxiesUnmapped(t *testing.T) {
	t.Parallel()
	list := "::ffff:10.1.2.3, ::ffff:192.168.7.0/120, ::ffff:0:0/96, 2001:db8::1/32, 10.9.8.7/16, fe80::1%eth0, ::ffff:0:0/95"
	cfg, err := parseServeConfig([]string{"--trusted-proxies", list}, envFunc(map[string]string{"AUTHSVC_DEV": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.1.2.3/32"),
		netip.MustParsePrefix("192.168.7.0/24"),
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("10.9.0.0/16"),
		netip.MustParsePrefix("fe80::1/128"),
		netip.MustParsePrefix("::fffe:0:0/95"), // wider than the mapped range: left IPv6
	}
	if !slices.Equal(cfg.http.TrustedProxies, want) {
		t.Errorf("--trusted-proxies %q = %v, want %v", list, cfg.http.TrustedProxies, want)
	}
	// The peers both consumers see: unmapped.
	for _, peer := range []string{"::ffff:10.1.2.3", "::ffff:192.168.7.200"} {
		ip := netip.MustParseAddr(peer).Unmap()
		if !slices.ContainsFunc(cfg.http.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			t.Errorf("peer %s (%s unmapped) is not trusted", peer, ip)
		}
	}
}

// TestServeEnvTwins: each serve flag's variable is named after it, except
// --reset's, which kept its name from before the rule.
func TestServeEnvTwins(t *testing.T) {
	t.Parallel()
	s := serveSettings(flag.NewFlagSet("serve", flag.ContinueOnError), envFunc(nil))
	for _, st := range s.list {
		want := "AUTHSVC_" + strings.ToUpper(strings.ReplaceAll(st.Name, "-", "_"))
		if st.Name == "reset" {
			want = "AUTHSVC_DEV_RESET"
		}
		if st.Env != want {
			t.Errorf("--%s has the variable %s, want %s", st.Name, st.Env, want)
		}
	}
}

// TestParseServeConfigPure: parsing touches no file, not even in --dev
// mode, and generates the dev secrets that nothing configures, once.
func TestParseServeConfigPure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "authsvc.db")
	if err := os.WriteFile(devStateFile(db), []byte("not what serve --dev writes"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseServeConfig([]string{"--dev", "--db", db}, envFunc(map[string]string{"AUTHSVC_SESSION_KEY": strings.Repeat("k", 32)}))
	if err != nil {
		t.Fatalf("parseServeConfig --dev = %v; it must not read the dev state file", err)
	}
	if len(cfg.devSecret) != 32 || len(cfg.devAdminKey) != 48 || cfg.devSessionKey != "" {
		t.Errorf("parseServeConfig --dev generated secret %d, admin key %d, session key %d hex characters; want 32, 48 and none (configured)",
			len(cfg.devSecret), len(cfg.devAdminKey), len(cfg.devSessionKey))
	}
	if cfg.addr != "127.0.0.1:8080" || cfg.devStatePath != devStateFile(db) || cfg.creds != nil {
		t.Errorf("parseServeConfig --dev: addr %q, state %q, credentials %v; want loopback, the state file, none read yet",
			cfg.addr, cfg.devStatePath, cfg.creds)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("after parseServeConfig the directory holds %v (%v), want the state file only", entries, err)
	}
	again, err := parseServeConfig([]string{"--dev", "--db", db}, envFunc(nil))
	if err != nil || again.devAdminKey == cfg.devAdminKey || again.devSessionKey == "" {
		t.Errorf("a second parse: %v, admin key repeated %v; want fresh secrets from crypto/rand", err, again.devAdminKey == cfg.devAdminKey)
	}

	// -h is the help, for the caller to print: flag.ErrHelp.
	_, err = parseServeConfig([]string{"-h"}, envFunc(nil))
	var help helpText
	if !errors.Is(err, flag.ErrHelp) || !errors.As(err, &help) || !strings.Contains(help.String(), "--token-ttl duration") {
		t.Errorf("parseServeConfig -h = %v, want flag.ErrHelp with the help", err)
	}
}
