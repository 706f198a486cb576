package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunRefuses covers what run must refuse before it sends anything:
// servers off this machine, a missing admin key, and flags out of bounds.
func TestRunRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	emptyKeyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyKeyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withKey := map[string]string{"AUTHSVC_ADMIN_TOKEN": testAdminKey}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"private address", []string{"--url", "http://10.0.0.1:8080"}, withKey, "not a loopback address"},
		{"documentation address", []string{"--url", "http://192.0.2.1:8080", "--mode", "healthz"}, nil, "not a loopback address"},
		{"any address", []string{"--url", "http://0.0.0.0:8080", "--mode", "healthz"}, nil, "not a loopback address"},
		{"public IPv6", []string{"--url", "http://[2001:db8::1]:8080", "--mode", "healthz"}, nil, "not a loopback address"},
		{"host name", []string{"--url", "http://example.com", "--mode", "healthz"}, nil, "not a loopback address"},
		{"name ending in localhost", []string{"--url", "http://evil-localhost:8080", "--mode", "healthz"}, nil, "not a loopback address"},
		{"localhost subdomain", []string{"--url", "http://localhost.example.com", "--mode", "healthz"}, nil, "not a loopback address"},
		{"no admin key for token", []string{"--url", "http://127.0.0.1:8080"}, nil, "set AUTHSVC_ADMIN_TOKEN or pass --admin-key-file"},
		{"no admin key for renew", []string{"--mode", "renew"}, nil, "set AUTHSVC_ADMIN_TOKEN or pass --admin-key-file"},
		{"blank admin key", []string{"--mode", "token"}, map[string]string{"AUTHSVC_ADMIN_TOKEN": " , "}, "set AUTHSVC_ADMIN_TOKEN"},
		{"empty key file", []string{"--admin-key-file", emptyKeyFile}, nil, "holds no admin key"},
		{"missing key file", []string{"--admin-key-file", filepath.Join(dir, "nope")}, withKey, "--admin-key-file"},
		{"unknown mode", []string{"--mode", "verify"}, withKey, "--mode"},
		{"no clients", []string{"--concurrency", "0"}, withKey, "--concurrency"},
		{"too many clients", []string{"--concurrency", "5000"}, withKey, "--concurrency"},
		{"no users", []string{"--users", "0"}, withKey, "--users"},
		{"too many users", []string{"--users", "10001"}, withKey, "--users"},
		{"duration over the cap", []string{"--duration", "11m"}, withKey, "--duration"},
		{"negative duration", []string{"--duration", "-1s"}, withKey, "--duration"},
		{"unbounded", []string{"--duration", "0"}, withKey, "--requests"},
		{"negative requests", []string{"--requests", "-5"}, withKey, "--requests"},
		{"long warmup", []string{"--warmup", "2m"}, withKey, "--warmup"},
		{"hasty progress", []string{"--progress", "10ms"}, withKey, "--progress"},
		{"path in url", []string{"--url", "http://127.0.0.1:8080/v1"}, withKey, "scheme, host and port only"},
		{"query in url", []string{"--url", "http://127.0.0.1:8080/?x=1"}, withKey, "scheme, host and port only"},
		{"user in url", []string{"--url", "http://me:pw@127.0.0.1:8080"}, withKey, "scheme, host and port only"},
		{"other scheme", []string{"--url", "ftp://127.0.0.1"}, withKey, "http or https"},
		{"no scheme", []string{"--url", "127.0.0.1:8080"}, withKey, "--url"},
		{"argument", []string{"token"}, withKey, "unexpected arguments"},
		{"negative rate", []string{"--rate", "-1"}, withKey, "--rate"},
		{"zim-callback without an app", []string{"--mode", "zim-callback"}, withKey, "--app-id: zim-callback mode needs the appID"},
		{"zim-callback without a secret", []string{"--mode", "zim-callback", "--app-id", "1"}, withKey, "set AUTHSVC_ZIM_CALLBACK_SECRET or pass --zim-callback-secret-file"},
		{"zim-callback missing secret file", []string{"--mode", "zim-callback", "--app-id", "1", "--zim-callback-secret-file", filepath.Join(dir, "nope")}, withKey, "--zim-callback-secret-file: "},
		{"bad server pid", []string{"--server-pid", "x", "--mode", "healthz"}, nil, "not a process ID"},
		{"zero server pid", []string{"--server-pid", "0", "--mode", "healthz"}, nil, "not a process ID"},
		{"no such server pid", []string{"--server-pid", "1073741824", "--mode", "healthz"}, nil, "--server-pid 1073741824"},
		{"second url not loopback", []string{"--url", "http://127.0.0.1:8080,http://10.0.0.1:8080", "--mode", "healthz"}, nil, "not a loopback address"},
		{"url listed twice", []string{"--url", "http://127.0.0.1:8080,http://127.0.0.1:8080/", "--mode", "healthz"}, nil, "listed twice"},
		{"empty url in list", []string{"--url", "http://127.0.0.1:8080,", "--mode", "healthz"}, nil, "--url"},
		{"too many urls", []string{"--url", strings.Repeat("http://127.0.0.1:1,", 16) + "http://127.0.0.1:2", "--mode", "healthz"}, nil, "at most 16"},
		{"unknown flag", []string{"--admin-key", testAdminKey}, withKey, "invalid command line"},
		{"too many admin-token users", []string{"--mode", "admin-token", "--users", "1000001"}, withKey, "--users: 1000001 is not from 1 to 1000000"},
		{"a million users in token mode", []string{"--mode", "token", "--users", "1000000"}, withKey, "not from 1 to 10000"},
		{"admin-token without a key", []string{"--mode", "admin-token"}, nil, "set AUTHSVC_ADMIN_TOKEN"},
		{"no provisioning without a prefix", []string{"--mode", "admin-token", "--provision=false"}, withKey, "--provision=false needs --user-prefix"},
		{"prefix with a space", []string{"--mode", "admin-token", "--user-prefix", "a b"}, withKey, "--user-prefix \"a b\": byte 1"},
		{"prefix with a quote", []string{"--mode", "admin-token", "--user-prefix", `a"`}, withKey, "--user-prefix"},
		{"long prefix", []string{"--mode", "admin-token", "--user-prefix", strings.Repeat("x", 25)}, withKey, "at most 24"},
		{"prefix in token mode", []string{"--mode", "token", "--user-prefix", "x"}, withKey, "for the admin-token mode"},
		{"timeline without progress", []string{"--mode", "healthz", "--timeline", filepath.Join(dir, "t.csv"), "--progress", "0"}, nil, "--timeline needs --progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := run(ctx, append([]string{"authsvc-load"}, tt.args...), envFunc(tt.env), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testAdminKey) {
				t.Errorf("the error shows the admin key: %v", err)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"authsvc-load", "-h"}, envFunc(nil), &stdout, &stderr); err != nil {
		t.Fatalf("run -h = %v, want nil", err)
	}
	for _, want := range []string{"loopback", "-concurrency", "-admin-key-file", "AUTHSVC_ADMIN_TOKEN"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		url      string
		resolves []netip.Addr // what the fake resolver answers for localhost
		fail     error        // or its error
		ok       bool
	}{
		{url: "http://127.0.0.1:8080", ok: true},
		{url: "http://127.255.255.254", ok: true},
		{url: "https://127.0.0.1", ok: true},
		{url: "http://[::1]:8080", ok: true},
		{url: "http://[::ffff:127.0.0.1]:8080", ok: true},
		{url: "http://localhost:8080", resolves: addrs("127.0.0.1", "::1"), ok: true},
		{url: "http://LOCALHOST.:8080", resolves: addrs("::1"), ok: true},
		{url: "http://localhost:8080", resolves: addrs("127.0.0.1", "10.0.0.7")},
		{url: "http://localhost:8080", resolves: nil},
		{url: "http://localhost:8080", fail: errors.New("no resolver")},
		{url: "http://10.0.0.1:8080"},
		{url: "http://128.0.0.1"},
		{url: "http://[::ffff:10.0.0.1]"},
		{url: "http://[::2]"},
		{url: "http://[fe80::1%25lo]"},
		{url: "http://0.0.0.0"},
		{url: "http://127.0.0.1.nip.io"},
		{url: "http://example.com"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		lookup := func(ctx context.Context, network, host string) ([]netip.Addr, error) {
			if !strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
				t.Errorf("checkLoopback(%s) resolved %q; only localhost may be resolved", tt.url, host)
			}
			return tt.resolves, tt.fail
		}
		err = checkLoopback(context.Background(), u, lookup)
		if (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%s) with localhost = %v, %v: %v, want ok %v", tt.url, tt.resolves, tt.fail, err, tt.ok)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.9.9.9:1", true},
		{"[::1]:8080", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"10.0.0.1:8080", false},
		{"[2001:db8::1]:443", false},
		{"[::ffff:192.0.2.1]:80", false},
		{"localhost:80", false}, // dialled addresses are always resolved
	}
	for _, tt := range tests {
		if err := loopbackOnly("tcp", tt.addr, nil); (err == nil) != tt.ok {
			t.Errorf("loopbackOnly(%s) = %v, want ok %v", tt.addr, err, tt.ok)
		}
	}

	// The transport refuses, before connecting, what the URL check was
	// told nothing about, such as a name that resolved differently later.
	c := newClient(newTransport(1), 5*time.Second)
	req, err := http.NewRequest(http.MethodGet, "http://192.0.2.1:9/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("the transport connected to 192.0.2.1")
	}
	if !strings.Contains(err.Error(), "refusing to connect") {
		t.Errorf("dial 192.0.2.1 = %v, want a refusal", err)
	}
}
