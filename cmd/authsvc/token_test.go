package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/api"
	"authsvc/internal/token"
	"authsvc/internal/token/tokenvectors"
)

const (
	cmdSecret = "0123456789abcdef0123456789abcdef"
	badSecret = "fedcba9876543210fedcba9876543210"
)

var cmdNow = time.Unix(1795633184, 0)

// cliRun runs "authsvc args..." through run, as main does, and returns its
// output, with the error main would print appended to stderr, and the exit
// status.
func cliRun(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"authsvc"}, args...), envFunc(env), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String() + errText(err), exitCode(err)
}

// tokenRun runs "authsvc token args..." at now, with seeded randomness.
func tokenRun(t *testing.T, env map[string]string, now time.Time, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(now.Unix()))
	c := tokenCmd{
		getenv: envFunc(env), stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		now: func() time.Time { return now }, rand: mrand.NewChaCha8(seed),
	}
	err := c.run(args)
	if errors.Is(err, flag.ErrHelp) {
		err = nil // the help was printed; runEnv makes this success
	}
	return out.String(), errOut.String() + errText(err), exitCode(err)
}

func secretEnvMap(secret string) map[string]string {
	return map[string]string{"AUTHSVC_SERVER_SECRET": secret}
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output %q: %v", s, err)
	}
	return v
}

// TestTokenDecodeVectors decodes every shared vector through run, with the
// secret from the environment, from --secret-file and from
// AUTHSVC_SERVER_SECRET_FILE, the token as an argument and on stdin. The
// vectors expire, so the real clock decides between exit status 0 and 1.
func TestTokenDecodeVectors(t *testing.T) {
	t.Parallel()
	for i, v := range tokenvectors.All() {
		file := filepath.Join(t.TempDir(), "secret")
		writeFile(t, file, v.Secret+"\n")
		ways := []struct {
			env   map[string]string
			stdin string
			args  []string
		}{
			{secretEnvMap(v.Secret), "", []string{"token", "decode", v.Token}},
			{nil, "", []string{"token", "decode", "--secret-file", file, v.Token}},
			{map[string]string{"AUTHSVC_SERVER_SECRET_FILE": file}, "\n " + v.Token + " \n", []string{"token", "decode", "-"}},
		}
		for _, w := range ways {
			before := time.Now().Unix()
			stdout, stderr, code := cliRun(t, w.env, w.stdin, w.args...)
			after := time.Now().Unix()
			got := decodeJSON[decoded](t, stdout)
			want := decoded{
				Variant: v.Want.Variant, AppID: v.Want.AppID, UserID: v.Want.UserID, Ctime: v.Want.Ctime,
				Expire: v.Want.Expire, Nonce: v.Want.Nonce, Payload: v.Want.Payload,
				Expired: got.Expired, ExpiresIn: got.ExpiresIn, Room: got.Room,
				Authenticated: v.Want.Variant == "gcm",
			}
			if !want.Authenticated {
				want.Warning = token.CBCWarning
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("vector %d: authsvc %v: output (-want +got):\n%s", i, w.args, diff)
			}
			// The command read the clock between before and after.
			if got.ExpiresIn < got.Expire-after || got.ExpiresIn > got.Expire-before {
				t.Errorf("vector %d: expiresIn %d for expire %d, run between %d and %d", i, got.ExpiresIn, got.Expire, before, after)
			}
			if v.Want.Payload != "" && got.Room == nil {
				t.Errorf("vector %d: payload %s not shown as a room", i, v.Want.Payload)
			}
			wantCode := 0
			if got.Expired {
				wantCode = 1
				if !strings.Contains(stderr, "zim error 6000106, rtc error 1002078") {
					t.Errorf("vector %d: expired, stderr %q lacks the client codes", i, stderr)
				}
			}
			if code != wantCode || (code == 0 && stderr != "") {
				t.Errorf("vector %d: authsvc %v = exit %d, stderr %q; want exit %d", i, w.args, code, stderr, wantCode)
			}
		}
	}
}

// TestTokenMintDecode mints through run with the real clock and
// crypto/rand, then decodes the token.
func TestTokenMintDecode(t *testing.T) {
	t.Parallel()
	env := secretEnvMap(cmdSecret)
	tok, stderr, code := cliRun(t, env, "", "token", "mint", "--app-id", "42", "--user-id", "alice")
	if code != 0 || stderr != "" || !strings.HasPrefix(tok, "04") || !strings.HasSuffix(tok, "\n") {
		t.Fatalf("token mint = %q, %q, exit %d", tok, stderr, code)
	}
	stdout, stderr, code := cliRun(t, env, tok, "token", "decode", "-")
	got := decodeJSON[decoded](t, stdout)
	if code != 0 || stderr != "" || got.AppID != 42 || got.UserID != "alice" || got.Variant != "gcm" ||
		got.Expire-got.Ctime != 3600 || got.Expired || got.ExpiresIn < 3590 || got.Room != nil {
		t.Errorf("token decode = %+v, %q, exit %d", got, stderr, code)
	}
}

func TestTokenMint(t *testing.T) {
	t.Parallel()
	env := secretEnvMap(cmdSecret)
	key, err := token.NewKey([]byte(cmdSecret))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		variant token.Variant
		payload string
		ttl     int64
	}{
		{[]string{"--app-id", "1", "--user-id", "u"}, token.GCM, "", 3600},
		{[]string{"--app-id", "4294967295", "--user-id", "u", "--ttl", "31s", "--legacy"}, token.CBC, "", 31},
		{[]string{"--app-id", "1", "--user-id", "u", "--ttl", "576h"}, token.GCM, "", 2073600},
		{[]string{"--app-id", "1", "--user-id", "u", "--ttl", "7d"}, token.GCM, "", 7 * 86400},
		{[]string{"--app-id", "1", "--user-id", "u", "--ttl", "1d12h"}, token.GCM, "", 36 * 3600},
		{[]string{"--app-id", "1", "--user-id", strings.Repeat("r", 64), "--rtc"}, token.GCM, "", 3600},
		{[]string{"--app-id", "1", "--user-id", "a b", "--rtc"}, token.GCM, "", 3600},
		{[]string{"--user-id", "u", "--ttl", "60s", "--app-id", "1"}, token.GCM, "", 60},
		{[]string{"--app-id", "1", "--user-id", "u", "--payload", `{"x":"<&>"}`}, token.GCM, `{"x":"<&>"}`, 3600},
		{[]string{"--app-id", "1", "--user-id", "u", "--room", "r1"}, token.GCM,
			`{"room_id":"r1","privilege":{"1":0,"2":0},"stream_id_list":null}`, 3600},
		{[]string{"--app-id", "1", "--user-id", "u", "--room", "r1", "--login", "--publish", "--stream", "s1", "--stream", "s2"}, token.GCM,
			`{"room_id":"r1","privilege":{"1":1,"2":1},"stream_id_list":["s1","s2"]}`, 3600},
	}
	for _, tt := range tests {
		stdout, stderr, code := tokenRun(t, env, cmdNow, "", append([]string{"mint", "--json"}, tt.args...)...)
		if code != 0 || stderr != "" {
			t.Errorf("token mint %v = exit %d, %q", tt.args, code, stderr)
			continue
		}
		type minted struct {
			Token     string `json:"token"`
			AppID     uint32 `json:"appID"`
			UserID    string `json:"userID"`
			IssuedAt  int64  `json:"issuedAt"`
			ExpiresAt int64  `json:"expiresAt"`
			Variant   string `json:"variant"`
		}
		got := decodeJSON[minted](t, stdout)
		c, v, err := key.Decode(got.Token)
		if err != nil || v != tt.variant || c.Payload != tt.payload || c.ExpiresAt-c.IssuedAt != tt.ttl || c.IssuedAt != cmdNow.Unix() {
			t.Errorf("token mint %v minted %+v, %v, %v; want %v, payload %s, ttl %d", tt.args, c, v, err, tt.variant, tt.payload, tt.ttl)
		}
		want := minted{got.Token, c.AppID, c.UserID, c.IssuedAt, c.ExpiresAt, tt.variant.String()}
		if got != want {
			t.Errorf("token mint %v --json = %+v, want %+v", tt.args, got, want)
		}
	}
}

func TestTokenDecode(t *testing.T) {
	t.Parallel()
	env := secretEnvMap(cmdSecret)
	room := `{"room_id":"r1","privilege":{"1":1,"2":0},"stream_id_list":["s"]}`
	tok, _, code := tokenRun(t, env, cmdNow, "", "mint", "--app-id", "7", "--user-id", "bob", "--ttl", "60s", "--room", "r1", "--login", "--stream", "s")
	if code != 0 {
		t.Fatalf("token mint: exit %d", code)
	}
	tok = strings.TrimSpace(tok)
	want := decoded{Variant: "gcm", AppID: 7, UserID: "bob", Ctime: cmdNow.Unix(), Expire: cmdNow.Unix() + 60,
		Payload: room, Room: &api.Room{RoomID: "r1", Login: true, StreamIDs: []string{"s"}}, Authenticated: true}

	stdout, stderr, code := tokenRun(t, env, cmdNow.Add(10*time.Second), "", "decode", tok)
	got := decodeJSON[decoded](t, stdout)
	want.Nonce, want.ExpiresIn = got.Nonce, 50
	if diff := cmp.Diff(want, got); diff != "" || code != 0 || stderr != "" {
		t.Errorf("token decode: exit %d, stderr %q, output (-want +got):\n%s", code, stderr, diff)
	}
	// Indented, for people.
	if !strings.Contains(stdout, "\n  \"appID\": 7,\n") {
		t.Errorf("token decode output is not indented:\n%s", stdout)
	}

	// Expired at its expire: still printed, exit 1 with the codes.
	stdout, stderr, code = tokenRun(t, env, cmdNow.Add(60*time.Second), "", "decode", tok)
	got = decodeJSON[decoded](t, stdout)
	want.Expired, want.ExpiresIn = true, 0
	if diff := cmp.Diff(want, got); diff != "" || code != 1 || !strings.Contains(stderr, "token expired (zim error 6000106, rtc error 1002078)") {
		t.Errorf("token decode expired: exit %d, stderr %q, output (-want +got):\n%s", code, stderr, diff)
	}

	// Issued in the future: printed, exit 1.
	stdout, stderr, code = tokenRun(t, env, cmdNow.Add(-time.Hour), "", "decode", tok)
	if got := decodeJSON[decoded](t, stdout); got.UserID != "bob" || code != 1 || !strings.Contains(stderr, "issued in the future") {
		t.Errorf("token decode from the future: %+v, exit %d, stderr %q", got, code, stderr)
	}

	// Without a secret: only the header, exit 1, and a warning.
	stdout, stderr, code = tokenRun(t, nil, cmdNow.Add(10*time.Second), "", "decode", tok)
	if got := decodeJSON[header](t, stdout); got != (header{Expire: cmdNow.Unix() + 60, ExpiresIn: 50}) || code != 1 ||
		!strings.Contains(stderr, "authenticity not checked") {
		t.Errorf("token decode without a secret: %+v, exit %d, stderr %q", got, code, stderr)
	}

	// Another secret: nothing printed, exit 1 with the codes.
	stdout, stderr, code = tokenRun(t, secretEnvMap(badSecret), cmdNow, "", "decode", tok)
	if stdout != "" || code != 1 || !strings.Contains(stderr, "zim error 6000103, rtc error 1002075") {
		t.Errorf("token decode with another secret: %q, exit %d, stderr %q", stdout, code, stderr)
	}

	// A CBC token decodes, exit 0, but its claims are not authenticated.
	cbc, _, _ := tokenRun(t, env, cmdNow, "", "mint", "--app-id", "7", "--user-id", "bob", "--legacy")
	stdout, _, code = tokenRun(t, env, cmdNow, "", "decode", strings.TrimSpace(cbc))
	if got := decodeJSON[decoded](t, stdout); got.Variant != "cbc" || got.Authenticated || got.Warning != token.CBCWarning || code != 0 {
		t.Errorf("token decode of a CBC token: %+v, exit %d; want it marked not authenticated, with the warning", got, code)
	}

	// A payload that is not a room has no room.
	tok, _, _ = tokenRun(t, env, cmdNow, "", "mint", "--app-id", "7", "--user-id", "bob", "--payload", "hello")
	stdout, _, code = tokenRun(t, env, cmdNow, "", "decode", strings.TrimSpace(tok))
	if got := decodeJSON[decoded](t, stdout); got.Payload != "hello" || got.Room != nil || code != 0 {
		t.Errorf("token decode of a raw payload: %+v, exit %d", got, code)
	}
}

// TestTokenErrors checks exit statuses, and that no message shows the
// secret or the token.
func TestTokenErrors(t *testing.T) {
	t.Parallel()
	env := secretEnvMap(cmdSecret)
	tok, _, _ := tokenRun(t, env, cmdNow, "", "mint", "--app-id", "7", "--user-id", "bob")
	tok = strings.TrimSpace(tok)
	short := secretEnvMap(cmdSecret[:31])
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		env    map[string]string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{env, "", nil, 2, "missing command"},
		{env, "", []string{"frobnicate"}, 2, "unknown command"},
		{env, "", []string{"mint", "--user-id", "u"}, 2, "--app-id and --user-id are required"},
		{env, "", []string{"mint", "--app-id", "1"}, 2, "--app-id and --user-id are required"},
		{env, "", []string{"mint", "--app-id", "0", "--user-id", "u"}, 2, `--app-id: "0" is not a number from 1 to 4294967295`},
		{env, "", []string{"mint", "--app-id", "4294967296", "--user-id", "u"}, 2, "is not a number from 1"},
		{env, "", []string{"mint", "--app-id", "-1", "--user-id", "u"}, 2, "is not a number from 1"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", strings.Repeat("u", 65), "--rtc"}, 2, "invalid user ID"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", strings.Repeat("u", 33)}, 2, "longer than the maximum of 32 (ZIM's rule; --rtc allows"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "a b"}, 2, "--user-id: userID has a space at byte offset 1"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--ttl", "soon"}, 2, `--ttl: "soon" is not a duration such as 90s, 15m, 1h or 7d` + "\nrun 'authsvc token mint -h' for its flags"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--ttl", "1.5s"}, 2, "whole seconds"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--ttl", "30s"}, 2, "zim error 6000108"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--ttl", "577h"}, 2, "zim error 6000109"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--room", "r", "--payload", "p"}, 2, "exclude each other"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--login"}, 2, "need --room"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--publish=false"}, 2, "need --room"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--stream", "s"}, 2, "need --room"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--room", ""}, 2, "--room must not be empty"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "extra"}, 2, "unexpected argument"},
		{env, "", []string{"mint", "--secret", cmdSecret}, 2, "flag provided but not defined"},
		{nil, "", []string{"mint", "--app-id", "1", "--user-id", "u"}, 2, "no ServerSecret"},
		{short, "", []string{"mint", "--app-id", "1", "--user-id", "u"}, 1, "32 bytes: got 31 bytes"},
		{env, "", []string{"mint", "--app-id", "1", "--user-id", "u", "--secret-file", missing}, 1, "token mint: --secret-file: read secret file"},
		{env, "", []string{"decode"}, 2, "want one TOKEN"},
		{env, "", []string{"decode", tok, "extra"}, 2, "want one TOKEN"},
		{env, "", []string{"decode", tok, "--secret-file", missing}, 1, "token decode: --secret-file: read secret file"},
		{env, "  \n", []string{"decode", "-"}, 2, "empty token"},
		{env, "", []string{"decode", "03" + tok[2:]}, 1, "zim error 6000107, rtc error 1002079"},
		{env, "", []string{"decode", tok[:len(tok)-4]}, 1, "zim error 6000103, rtc error 1002075"},
		{nil, "", []string{"decode", "garbage"}, 1, "token malformed"},
		{short, "", []string{"decode", tok}, 1, "32 bytes: got 31 bytes"},
	}
	for _, tt := range tests {
		stdout, stderr, code := tokenRun(t, tt.env, cmdNow, tt.stdin, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("token %q = exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.stderr)
		}
		if stdout != "" {
			t.Errorf("token %q printed %q", tt.args, stdout)
		}
		if strings.Contains(stderr, "Usage:") || strings.Contains(stderr, "AUTHSVC_SERVER_SECRET_FILE:") {
			t.Errorf("token %q: stderr %q has the whole usage, or names a variable that was not used", tt.args, stderr)
		}
		if strings.Contains(stderr, cmdSecret[:16]) || strings.Contains(stderr, tok[2:20]) {
			t.Errorf("token %q: stderr %q shows the secret or the token", tt.args, stderr)
		}
	}
	_, help, _ := tokenRun(t, env, cmdNow, "", "mint", "-h")
	for _, want := range []string{"--ttl duration", "(default 1h)", "--app-id uint32", "ZIM's rule", "--rtc", "1 to 64 bytes"} {
		if !strings.Contains(help, want) {
			t.Errorf("token mint -h lacks %q:\n%s", want, help)
		}
	}
	for _, args := range [][]string{{"mint", "-h"}, {"decode", "-h"}, {"help"}} {
		if _, _, code := tokenRun(t, env, cmdNow, "", args...); code != 0 {
			t.Errorf("token %q = exit %d, want 0", args, code)
		}
	}
}
