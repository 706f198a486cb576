package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"authsvc/internal/redistest"
	"authsvc/internal/sharedlimit"
)

// login posts a login and returns the status.
func login(t *testing.T, url, userID, password string) int {
	t.Helper()
	body, err := json.Marshal(map[string]string{"userID": userID, "password": password})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: hangGuardLong}).Post(url+"/v1/sessions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSharedLoginLimit is issue 12's test of shared limits: three replicas
// on one database and one Redis, a login limit of 10 a minute per userID,
// and 30 wrong-password logins for one userID spread round-robin over the
// three. Exactly 10 reach the password check (401); the other 20 are
// refused by the limit (429), although no replica saw more than 10.
func TestSharedLoginLimit(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	env["AUTHSVC_REDIS_URL"] = redistest.URL(t)
	env["AUTHSVC_REDIS_KEY_PREFIX"] = redistest.Prefix(t)
	env["AUTHSVC_RATE_LOGIN_USER"] = "10/1m"
	// Not the default 100ms: on a loaded machine a slow answer would fall
	// back to per-replica counting, which is not what this test is about.
	env["AUTHSVC_REDIS_TIMEOUT"] = "10s"
	var replicas []*server
	for range 3 {
		replicas = append(replicas, startServer(t, env))
	}
	call(t, "POST", replicas[0].url+"/v1/users", e2eAdminKey, map[string]any{"userID": "alice", "password": e2ePassword}, 201, nil)

	got := map[int]int{}
	for i := range 30 {
		got[login(t, replicas[i%3].url, "alice", "not the password")]++
	}
	if got[http.StatusUnauthorized] != 10 || got[http.StatusTooManyRequests] != 20 || len(got) != 2 {
		t.Errorf("30 logins over 3 replicas: statuses %v, want 10×401 and 20×429", got)
	}
	for i, r := range replicas {
		if m := getMetrics(t, r.url+"/metrics", e2eAdminKey, http.StatusOK); !strings.Contains(m, "authsvc_rate_limit_shared_up 1") {
			t.Errorf("replica %d: metrics lack authsvc_rate_limit_shared_up 1", i)
		}
	}
}

// TestRedisDownAtStartup: a replica whose Redis does not answer starts
// anyway, says so once, and enforces the limits itself: logins stay limited
// and tokens keep being issued. The Redis password never reaches the logs.
func TestRedisDownAtStartup(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	env := productionEnv(t)
	env["AUTHSVC_REDIS_URL"] = "redis://:redis-pass-0123456789@" + dead + "/0"
	env["AUTHSVC_RATE_LOGIN_USER"] = "3/1m"
	srv := startServer(t, env)

	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "alice", "password": e2ePassword}, 201, nil)
	var session struct{ AccessToken string }
	call(t, "POST", srv.url+"/v1/sessions", "", map[string]any{"userID": "alice", "password": e2ePassword}, 200, &session)
	call(t, "POST", srv.url+"/v1/token", session.AccessToken, map[string]any{}, 200, nil)
	got := map[int]int{}
	for range 5 {
		got[login(t, srv.url, "alice", "not the password")]++
	}
	if got[http.StatusUnauthorized] != 2 || got[http.StatusTooManyRequests] != 3 {
		t.Errorf("5 wrong logins after 1 right one, limit 3/1m, Redis down: %v, want 2×401 and 3×429", got)
	}
	if m := getMetrics(t, srv.url+"/metrics", e2eAdminKey, http.StatusOK); !strings.Contains(m, "authsvc_rate_limit_shared_up 0") {
		t.Error("metrics lack authsvc_rate_limit_shared_up 0")
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	logs := srv.stderr.String()
	if n := strings.Count(logs, "Redis unreachable"); n != 1 {
		t.Errorf("%d log lines say Redis is unreachable, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs, "redis-pass-0123456789") {
		t.Error("the logs contain the Redis password")
	}
}

// TestRedisConfigErrors: a malformed Redis URL or timeout stops startup
// with an error naming the setting, never the URL's password.
func TestRedisConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"scheme", map[string]string{"AUTHSVC_REDIS_URL": "http://:redis-pass-0123456789@127.0.0.1:6379"}, nil, "AUTHSVC_REDIS_URL: not a Redis URL"},
		{"port", map[string]string{"AUTHSVC_REDIS_URL": "redis://:redis-pass-0123456789@127.0.0.1:x/0"}, nil, "AUTHSVC_REDIS_URL: not a Redis URL"},
		{"database", nil, []string{"--redis-url", "redis://:redis-pass-0123456789@127.0.0.1/db"}, "--redis-url: not a Redis URL"},
		{"option", map[string]string{"AUTHSVC_REDIS_URL": "redis://:redis-pass-0123456789@127.0.0.1/0?nope=1"}, nil, "AUTHSVC_REDIS_URL: not a Redis URL"},
		{"timeout", map[string]string{"AUTHSVC_REDIS_TIMEOUT": "0s"}, nil, "AUTHSVC_REDIS_TIMEOUT: 0s is not between 1ms and 10s"},
		{"long timeout", map[string]string{"AUTHSVC_REDIS_TIMEOUT": "1m"}, nil, "AUTHSVC_REDIS_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := productionEnv(t)
			for k, v := range tt.env {
				env[k] = v
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"authsvc", "serve"}, tt.args...), envFunc(env), strings.NewReader(""), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error with %q", err, tt.want)
			}
			if strings.Contains(err.Error()+stderr.String(), "redis-pass-0123456789") {
				t.Errorf("error or logs show the Redis password: %v", err)
			}
		})
	}
}

// TestZEGOCallsShareSlots: with Redis, serve gives its ZEGO clients call
// slots counted there, a sharedlimit.Limiter (shared by the replicas as
// TestSharedLoginLimit shows); without it none, and each replica paces
// alone. TestZegoStepClientsShareSlots shows every call taking a slot.
func TestZEGOCallsShareSlots(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{false, true} {
		env := productionEnv(t)
		if withRedis {
			env["AUTHSVC_REDIS_URL"] = redistest.URL(t)
			env["AUTHSVC_REDIS_KEY_PREFIX"] = redistest.Prefix(t)
		}
		cfg, err := parseServeConfig(nil, envFunc(env))
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		cfg.logger = slog.New(slog.NewTextHandler(&log, nil))
		cfg.flushLog = func() {}
		cfg.accessLog = io.Discard
		svc, err := buildServe(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, shared := svc.zego.slots.(*sharedlimit.Limiter)
		if shared != withRedis || (svc.zego.slots == nil) != !withRedis {
			t.Errorf("with Redis %v: the ZEGO clients' slots are %T, want shared %v", withRedis, svc.zego.slots, withRedis)
		}
		svc.close()
	}
}

// TestZIMCallbackReplayAcrossReplicas: with Redis, a signed callback that
// one replica accepted is refused as replayed by another, as it is by the
// first; without Redis only the first remembers it.
func TestZIMCallbackReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	const cb = "replicas-zim-callback-secret-0123"
	for _, withRedis := range []bool{true, false} {
		env := productionEnv(t)
		env["AUTHSVC_ZIM_CALLBACK_SECRET"] = cb
		if withRedis {
			env["AUTHSVC_REDIS_URL"] = redistest.URL(t)
			env["AUTHSVC_REDIS_KEY_PREFIX"] = redistest.Prefix(t)
			env["AUTHSVC_REDIS_TIMEOUT"] = "10s" // a slow answer would leave it to each replica
		}
		a, b := startServer(t, env), startServer(t, env)
		body := zimCallbackBody(env["AUTHSVC_APP_ID"], cb, "replayed-nonce", "ann")
		call(t, "POST", a.url+"/v1/zego/callbacks/zim", "", body, http.StatusOK, nil)
		var p struct{ Code string }
		call(t, "POST", a.url+"/v1/zego/callbacks/zim", "", body, http.StatusUnauthorized, &p)
		if p.Code != "replayed_callback" {
			t.Errorf("with Redis %v: the replay to the same replica answered %q, want replayed_callback", withRedis, p.Code)
		}
		if !withRedis {
			call(t, "POST", b.url+"/v1/zego/callbacks/zim", "", body, http.StatusOK, nil)
			continue
		}
		p.Code = ""
		call(t, "POST", b.url+"/v1/zego/callbacks/zim", "", body, http.StatusUnauthorized, &p)
		if p.Code != "replayed_callback" {
			t.Errorf("the replay to another replica answered %q, want replayed_callback", p.Code)
		}
		// A fresh nonce still passes on either.
		call(t, "POST", b.url+"/v1/zego/callbacks/zim", "", zimCallbackBody(env["AUTHSVC_APP_ID"], cb, "fresh-nonce", "ann"), http.StatusOK, nil)
	}
}
