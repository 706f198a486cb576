package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"authsvc/api"
	"authsvc/internal/httpapi/httpapitest"
	"authsvc/internal/token"
)

// Test fixtures; the secrets are made up.
const (
	testAdminKey   = "bare-test-admin-key-0123456789"
	testSecret     = "0123456789abcdef0123456789abcdef"
	testSessionKey = "bare-test-session-key-0123456789abcdef"
	testAppID      = 1234567890
	testUserID     = "bare-user"
)

// newRealServer serves authsvc's API over a fresh database, with the same
// app as the bare server, and returns its URL.
func newRealServer(t *testing.T) string {
	t.Helper()
	h, _ := httpapitest.New(t, httpapitest.Options{AppID: testAppID, Secret: testSecret, AdminKey: testAdminKey, SessionKey: testSessionKey})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// post sends body (none when nil) with the bearer credential (none when
// "") and returns the answer, read in full.
func post(t *testing.T, url, credential string, body any, wantStatus int) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(http.MethodPost, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("POST %s = %d %s, want %d", url, resp.StatusCode, b, wantStatus)
	}
	return resp, b
}

// keys are the top-level keys of a JSON object.
func keys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %s is not a JSON object: %v", b, err)
	}
	return slices.Sorted(maps.Keys(m))
}

// TestAnswersLikeTokenRoute checks that the bare server's POST /v1/token
// answers as authsvc's does for a logged-in user: the same status, headers
// and JSON keys, the same values but for the token and times, and a token
// that carries what the answer says.
func TestAnswersLikeTokenRoute(t *testing.T) {
	t.Parallel()
	real := newRealServer(t)
	uid := testUserID
	post(t, real+"/v1/users", testAdminKey, api.NewUser{UserID: &uid, Password: "bare-test-password"}, http.StatusCreated)
	_, b := post(t, real+"/v1/sessions", "", api.SessionRequest{UserID: uid, Password: "bare-test-password"}, http.StatusOK)
	var s api.SessionResponse
	if err := json.Unmarshal(b, &s); err != nil || s.AccessToken == "" {
		t.Fatalf("session answer %s: %v", b, err)
	}
	realResp, realBody := post(t, real+"/v1/token", s.AccessToken, nil, http.StatusOK)

	key, err := token.NewKey([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	bare := httptest.NewServer(newHandler(&minter{key: key, appID: testAppID, userID: testUserID, ttl: 3600, now: time.Now, rand: rand.Reader}))
	t.Cleanup(bare.Close)
	bareResp, bareBody := post(t, bare.URL+"/v1/token", "", nil, http.StatusOK)

	for _, h := range []string{"Content-Type", "Cache-Control"} {
		if got, want := bareResp.Header.Get(h), realResp.Header.Get(h); got != want {
			t.Errorf("bare %s = %q, want %q as authsvc sends", h, got, want)
		}
	}
	if got, want := keys(t, bareBody), keys(t, realBody); !slices.Equal(got, want) {
		t.Errorf("bare answer keys = %v, want %v as authsvc sends", got, want)
	}
	var bareTok, realTok api.TokenResponse
	if err := json.Unmarshal(bareBody, &bareTok); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(realBody, &realTok); err != nil {
		t.Fatal(err)
	}
	// Compared without the tokens, which failure messages must not show.
	type same struct {
		AppID            uint32
		UserID, UserName string
		Lifetime         int64
	}
	got := same{bareTok.AppID, bareTok.UserID, bareTok.UserName, bareTok.EffectiveTimeInSeconds}
	want := same{realTok.AppID, realTok.UserID, realTok.UserName, realTok.EffectiveTimeInSeconds}
	if got != want {
		t.Errorf("bare answer = %+v, want %+v as authsvc answers", got, want)
	}
	c, v, err := key.Decode(bareTok.Token)
	if err != nil || v != token.GCM {
		t.Fatalf("Decode(bare token) = %v, %v; want a GCM token", v, err)
	}
	if c.AppID != bareTok.AppID || c.UserID != bareTok.UserID || c.IssuedAt != bareTok.IssuedAt || c.ExpiresAt != bareTok.ExpiresAt {
		t.Errorf("bare token claims app %d, user %q, %d to %d; the answer says %d, %q, %d to %d",
			c.AppID, c.UserID, c.IssuedAt, c.ExpiresAt, bareTok.AppID, bareTok.UserID, bareTok.IssuedAt, bareTok.ExpiresAt)
	}
}

// TestRun starts the program on a free loopback port, mints through it and
// stops it by cancelling its context.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"authsvc-bare", "--addr", "127.0.0.1:0", "--user-id", "someone"}, pw, &stderr)
		pw.Close()
	}()
	// The first line is written once the server listens.
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("read the URL line: %v (run: %v)", err, <-done)
	}
	base := strings.TrimSpace(line)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("first line = %q, want the base URL on 127.0.0.1", line)
	}
	_, b := post(t, base+"/v1/token", "", nil, http.StatusOK)
	var tok api.TokenResponse
	if err := json.Unmarshal(b, &tok); err != nil || tok.UserID != "someone" || tok.Token == "" || tok.EffectiveTimeInSeconds != 3600 {
		t.Errorf("POST /v1/token: user %q, %d s, token of %d bytes (%v); want a token for someone, for an hour",
			tok.UserID, tok.EffectiveTimeInSeconds, len(tok.Token), err)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(hb)) != `{"status":"ok"}` {
		t.Errorf("GET /healthz = %d %s, want 200 {\"status\":\"ok\"}", resp.StatusCode, hb)
	}
	go io.Copy(io.Discard, pr) // nothing more is written, but never block run
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

// TestRunRefuses covers the command lines run must refuse before it
// listens.
func TestRunRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"any address", []string{"--addr", "0.0.0.0:8090"}, "loopback"},
		{"public address", []string{"--addr", "192.0.2.1:8090"}, "loopback"},
		{"host name", []string{"--addr", "localhost:8090"}, "loopback"},
		{"no port", []string{"--addr", "127.0.0.1"}, "loopback"},
		{"app 0", []string{"--app-id", "0"}, "--app-id"},
		{"app too large", []string{"--app-id", "4294967296"}, "--app-id"},
		{"empty user", []string{"--user-id", ""}, "--user-id"},
		{"short ttl", []string{"--ttl", "1s"}, "--ttl"},
		{"argument", []string{"serve"}, "unexpected arguments"},
		{"unknown flag", []string{"--secret", "x"}, "invalid command line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"authsvc-bare"}, tt.args...), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error saying %q", err, tt.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing: it must not have listened", stdout.String())
			}
		})
	}
}
