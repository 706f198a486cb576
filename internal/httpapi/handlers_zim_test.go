package httpapi

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/redistest"
	"authsvc/internal/sharedlimit"
	"authsvc/internal/zego"
)

const testCallbackSecret = "zim-callback-secret-for-tests-0123"

// signZIM signs a callback as ZIM does, written here apart from
// internal/zego so that the two are checked against each other: the SHA-1
// of the secret, timestamp and nonce, sorted as strings and joined.
func signZIM(secret, timestamp, nonce string) string {
	parts := []string{secret, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// TestSignZIMVector: the test's signer reproduces ZEGO's published sample.
func TestSignZIMVector(t *testing.T) {
	t.Parallel()
	if got, want := signZIM("secret", "1470820198", "123412"), "5bd59fd62953a8059fb7eaba95720f66d19e4517"; got != want {
		t.Errorf("signZIM(published sample) = %s, want %s", got, want)
	}
}

// withZIM gives the env's app a callback secret and the unknown sender
// policy.
func withZIM(unknown apps.UnknownSender) envOption {
	return func(s *envSetup) {
		s.creds.Apps[0].ZIM = apps.ZIM{CallbackSecret: []byte(testCallbackSecret), UnknownSender: unknown}
	}
}

// zimNonces makes every callback of a test distinct.
var zimNonces atomic.Int64

// callback is a ZIM callback body, signed with secret at ts unless the
// fields set their own signature.
func (e *env) callback(secret string, ts int64, fields map[string]any) map[string]any {
	return signedCallback(secret, ts, fields)
}

func signedCallback(secret string, ts int64, fields map[string]any) map[string]any {
	nonce := strconv.FormatInt(zimNonces.Add(1)+1_000_000, 10)
	body := map[string]any{"appid": strconv.Itoa(testAppID), "nonce": nonce, "timestamp": ts,
		"signature": signZIM(secret, strconv.FormatInt(ts, 10), nonce)}
	for k, v := range fields {
		body[k] = v
	}
	return body
}

func (e *env) sendCallback(body any) *response {
	e.t.Helper()
	return e.do("POST", "/v1/zego/callbacks/zim", "", body)
}

func beforeSendMsg(from string) map[string]any {
	return map[string]any{"event": "before_send_msg", "from_user_id": from, "conv_id": "room-1", "conv_type": 1,
		"msg_id": "123", "msg_type": 1, "msg_body": "hello"}
}

// setUpSenders creates the users the callback tests send as: enabled,
// disabled and deleted; "ghost" was never created.
func (e *env) setUpSenders() {
	e.t.Helper()
	for _, id := range []string{"enabled", "disabled", "deleted"} {
		e.createUser(id)
	}
	e.do("PATCH", "/v1/users/disabled", testAdminKey, map[string]any{"disabled": true}).want(e.t, http.StatusOK)
	e.do("DELETE", "/v1/users/deleted", testAdminKey, nil).want(e.t, http.StatusNoContent)
}

var senders = []string{"enabled", "disabled", "deleted", "ghost"}

func TestZIMBeforeSendMsg(t *testing.T) {
	t.Parallel()
	for _, policy := range []apps.UnknownSender{apps.BlockUnknown, apps.AllowUnknown} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withZIM(policy))
			e.setUpSenders()
			want := map[string]api.ZIMCallbackAnswer{
				"enabled":  {Result: 1},
				"disabled": {Result: 3, Reason: reasonDisabled},
				"deleted":  {Result: 3, Reason: reasonUnknown},
				"ghost":    {Result: 3, Reason: reasonUnknown},
				"a b":      {Result: 3, Reason: reasonUnknown}, // not a userID at all
			}
			if policy == apps.AllowUnknown {
				want["deleted"], want["ghost"], want["a b"] = api.ZIMCallbackAnswer{Result: 1}, api.ZIMCallbackAnswer{Result: 1}, api.ZIMCallbackAnswer{Result: 1}
			}
			for from, w := range want {
				// Twice: the second answer comes from the cache.
				for range 2 {
					var got api.ZIMCallbackAnswer
					e.sendCallback(e.callback(testCallbackSecret, e.clock.Now().Unix(), beforeSendMsg(from))).want(t, http.StatusOK).decode(t, &got)
					if got != w {
						t.Errorf("before_send_msg from %q = %+v, want %+v", from, got, w)
					}
				}
			}
			// Enabled again: messages go through at once (writes evict the cache).
			e.do("PATCH", "/v1/users/disabled", testAdminKey, map[string]any{"disabled": false}).want(t, http.StatusOK)
			var got api.ZIMCallbackAnswer
			e.sendCallback(e.callback(testCallbackSecret, e.clock.Now().Unix(), beforeSendMsg("disabled"))).want(t, http.StatusOK).decode(t, &got)
			if got.Result != 1 {
				t.Errorf("before_send_msg after re-enabling = %+v, want 1", got)
			}
			wantCounts := map[string]string{verdictSend: "3", verdictDisabled: "2", verdictUnknown: "6"}
			if policy == apps.AllowUnknown {
				wantCounts = map[string]string{verdictSend: "9", verdictDisabled: "2", verdictUnknown: "0"}
			}
			for v, n := range wantCounts {
				series := `authsvc_zim_messages_total{verdict="` + v + `"}`
				if got := e.metric(series); got != n {
					t.Errorf("%s = %s, want %s", series, got, n)
				}
			}
		})
	}
}

// TestZIMCallbackRefusals: whoever the sender, a callback that is not
// ZIM's, not fresh or not new is refused before anyone is looked up.
func TestZIMCallbackRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withZIM(apps.BlockUnknown))
	e.setUpSenders()
	now := e.clock.Now().Unix()
	for _, from := range senders {
		msg := beforeSendMsg(from)
		e.sendCallback(e.callback("another-secret-0123456789abcdef", now, msg)).problem(t, http.StatusUnauthorized, codeInvalidSignature)
		bad := e.callback(testCallbackSecret, now, msg)
		bad["signature"] = strings.Repeat("0", 40)
		e.sendCallback(bad).problem(t, http.StatusUnauthorized, codeInvalidSignature)
		bad["signature"] = "not hex"
		e.sendCallback(bad).problem(t, http.StatusUnauthorized, codeInvalidSignature)
		// The signature covers the timestamp: moving it breaks it.
		moved := e.callback(testCallbackSecret, now, msg)
		moved["timestamp"] = now + 1
		e.sendCallback(moved).problem(t, http.StatusUnauthorized, codeInvalidSignature)

		e.sendCallback(e.callback(testCallbackSecret, now-callbackWindow-1, msg)).problem(t, http.StatusUnauthorized, codeStaleCallback)
		e.sendCallback(e.callback(testCallbackSecret, now+callbackWindow+1, msg)).problem(t, http.StatusUnauthorized, codeStaleCallback)
		e.sendCallback(e.callback(testCallbackSecret, now-callbackWindow, msg)).want(t, http.StatusOK)

		once := e.callback(testCallbackSecret, now, msg)
		e.sendCallback(once).want(t, http.StatusOK)
		e.sendCallback(once).problem(t, http.StatusUnauthorized, codeReplayedCallback)
		// The body is not signed: a replay with another sender is refused too.
		once["from_user_id"] = "enabled"
		e.sendCallback(once).problem(t, http.StatusUnauthorized, codeReplayedCallback)
		// Once out of the window, the replay is stale.
		e.clock.Advance((callbackWindow + 1) * time.Second)
		e.sendCallback(once).problem(t, http.StatusUnauthorized, codeStaleCallback)
		now = e.clock.Now().Unix()

		other := e.callback(testCallbackSecret, now, msg)
		other["appid"] = "42"
		e.sendCallback(other).problem(t, http.StatusNotFound, codeNotFound)
		other["appid"] = "not a number"
		e.sendCallback(other).problem(t, http.StatusNotFound, codeNotFound)
		noSender := e.callback(testCallbackSecret, now, msg)
		delete(noSender, "from_user_id")
		e.sendCallback(noSender).problem(t, http.StatusBadRequest, codeInvalidCallback)
	}
	for _, body := range []string{`{`, `[]`, `null`, `"x"`, `{"appid":"1"}`, `{"appid":1234567890,"event":"x","nonce":"1","timestamp":"soon","signature":"a"}`} {
		e.sendCallback(body).problem(t, http.StatusBadRequest, codeInvalidCallback)
	}
	big := e.callback(testCallbackSecret, now, map[string]any{"event": "x", "pad": strings.Repeat("x", 300<<10)})
	e.sendCallback(big).problem(t, http.StatusRequestEntityTooLarge, codePayloadTooLarge)
	long := e.callback(testCallbackSecret, now, map[string]any{"event": "user_action", "user_id": "enabled", "action": 0,
		"session_id": strings.Repeat("s", 129)})
	e.sendCallback(long).problem(t, http.StatusBadRequest, codeInvalidCallback)
	if n := e.api.replays.len(); n > 4*len(senders)+1 {
		t.Errorf("replay cache holds %d callbacks; only the accepted ones belong there", n)
	}
}

// TestZIMCallbackOff: without a callback secret the route is a 404, even
// for a correctly signed callback.
func TestZIMCallbackOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sendCallback(e.callback(testCallbackSecret, e.clock.Now().Unix(), beforeSendMsg("x"))).problem(t, http.StatusNotFound, codeNotFound)
}

// TestZIMCallbackVector: the published sample, timestamp and nonce as ZEGO
// gave them, on a clock set to its time.
func TestZIMCallbackVector(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withZIM(apps.AllowUnknown))
	e.clock.unix.Store(1470820198)
	body := map[string]any{"appid": strconv.Itoa(testAppID), "event": "before_send_msg", "nonce": "123412", "timestamp": 1470820198,
		"signature": signZIM(testCallbackSecret, "1470820198", "123412"), "from_user_id": "u"}
	var got api.ZIMCallbackAnswer
	e.sendCallback(body).want(t, http.StatusOK).decode(t, &got)
	if got.Result != 1 {
		t.Errorf("answer = %+v, want 1", got)
	}
}

func userAction(user, session string, action int, at int64) map[string]any {
	f := map[string]any{"event": "user_action", "user_id": user, "user_name": user, "os": "WEB", "action": action,
		"session_id": session, "relogin": "0"}
	switch action {
	case 0:
		f["login_time"] = at
	case 1:
		f["logout_time"] = at
	case 2:
		f["offline_time"] = at
	}
	return f
}

func TestZIMUserAction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withZIM(apps.BlockUnknown))
	e.setUpSenders()
	now := e.clock.Now().Unix()
	t0 := now * 1000 // ZIM's times in milliseconds
	send := func(f map[string]any) {
		t.Helper()
		e.sendCallback(e.callback(testCallbackSecret, now, f)).want(t, http.StatusOK)
	}
	wantUser := func(online bool, lastSeen int64) {
		t.Helper()
		var u api.User
		e.do("GET", "/v1/users/enabled", testAdminKey, nil).want(t, http.StatusOK).decode(t, &u)
		want := ""
		if lastSeen != 0 {
			want = api.FormatTime(time.UnixMilli(lastSeen))
		}
		if u.Online == nil || *u.Online != online || u.LastSeenAt != want {
			t.Fatalf("GET /v1/users/enabled = online %v, lastSeenAt %q; want %v, %q", u.Online, u.LastSeenAt, online, want)
		}
	}
	wantUser(false, 0)
	send(userAction("enabled", "phone", 0, t0))
	wantUser(true, t0)
	send(userAction("enabled", "laptop", 0, t0+1000))
	send(userAction("enabled", "phone", 1, t0+2000))
	wantUser(true, t0+2000) // still on the laptop
	// ZIM retrying the phone's login after its logout: a new callback of an
	// old event, which changes nothing.
	send(userAction("enabled", "phone", 0, t0))
	wantUser(true, t0+2000)
	send(userAction("enabled", "laptop", 2, t0+3000))
	wantUser(false, t0+3000)
	// A user sees their own presence too.
	tok := e.login("enabled")
	var self api.User
	e.do("GET", "/v1/users/enabled", tok, nil).want(t, http.StatusOK).decode(t, &self)
	if self.Online == nil || *self.Online {
		t.Errorf("the user's own view: online %v, want false", self.Online)
	}
	// Lists do not carry it.
	var list api.UserList
	e.do("GET", "/v1/users", testAdminKey, nil).want(t, http.StatusOK).decode(t, &list)
	if len(list.Users) == 0 || list.Users[0].Online != nil {
		t.Errorf("GET /v1/users = %+v, want no presence", list.Users)
	}

	// Unknown and deleted users: acknowledged, audited, never stored.
	send(userAction("ghost", "s", 0, t0))
	send(userAction("deleted", "s", 0, t0))
	send(userAction("a b", "s", 1, t0)) // not even a userID
	// Actions ZIM may add, and other events: acknowledged.
	send(userAction("enabled", "phone", 7, t0))
	var ack map[string]any
	e.sendCallback(e.callback(testCallbackSecret, now, map[string]any{"event": "group_create", "group_id": "g"})).want(t, http.StatusOK).decode(t, &ack)
	if len(ack) != 0 {
		t.Errorf("other event answered %v, want {}", ack)
	}

	if err := e.audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, ev := range e.listAudit("") {
		if strings.HasPrefix(ev.Event, "zim.") {
			counts[fmt.Sprintf("%s %s %s %s", ev.Event, ev.UserID, ev.Actor, ev.Reason)]++
			if ev.AppID != testAppID {
				t.Errorf("event %+v: appID %d, want %d", ev, ev.AppID, testAppID)
			}
		}
	}
	want := map[string]int{
		audit.ZIMLogin + " enabled zim ":               2, // the retried login is not audited again
		audit.ZIMLogout + " enabled zim ":              1,
		audit.ZIMDisconnected + " enabled zim ":        1,
		audit.ZIMLogin + " ghost zim not registered":   1,
		audit.ZIMLogin + " deleted zim not registered": 1,
		audit.ZIMLogout + "  zim not registered":       1,
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("audit events = %v, want %v", counts, want)
	}
}

func TestActionTime(t *testing.T) {
	t.Parallel()
	cbTS := int64(1_800_000_000)
	tests := []struct {
		action int
		login  int64
		logout int64
		want   time.Time
	}{
		{0, 1_800_000_000_123, 0, time.UnixMilli(1_800_000_000_123)},
		{0, 1_799_999_999, 0, time.Unix(1_799_999_999, 0)},
		{0, 0, 5, time.Unix(cbTS, 0)},
		{1, 7, 1_800_000_001_000, time.UnixMilli(1_800_000_001_000)},
		{1, 0, -1, time.Unix(cbTS, 0)},
		{2, 0, 0, time.Unix(cbTS, 0)},
	}
	for _, tt := range tests {
		a := &zego.UserAction{Action: tt.action, LoginTime: tt.login, LogoutTime: tt.logout}
		if got := actionTime(a, cbTS); !got.Equal(tt.want) {
			t.Errorf("actionTime(%+v) = %v, want %v", *a, got, tt.want)
		}
	}
}

// FuzzZIMCallback posts correctly signed callbacks with arbitrary fields
// through the whole route: it answers 200 or a client error, never a 500,
// and a verdict is always 1 or 3.
func FuzzZIMCallback(f *testing.F) {
	f.Add("before_send_msg", "enabled", 0, "s", int64(0), `"x"`)
	f.Add("user_action", "enabled", 0, "phone", int64(1_800_000_000_000), `1`)
	f.Add("user_action", "ghost", 2, "", int64(-1), `null`)
	f.Add("user_action", "a b", 1, "\x00", int64(1<<62), `{"a":[]}`)
	e := newEnv(f, withZIM(apps.BlockUnknown))
	e.createUser("enabled")
	f.Fuzz(func(t *testing.T, event, user string, action int, session string, at int64, extra string) {
		fields := map[string]any{"event": event, "from_user_id": user, "user_id": user, "action": action,
			"session_id": session, "login_time": at, "logout_time": at, "offline_time": at}
		body := mustJSON(t, signedCallback(testCallbackSecret, e.clock.Now().Unix(), fields))
		body = append(body[:len(body)-1], []byte(`,"extra":`+extra+`}`)...)
		req := httptest.NewRequest("POST", "/v1/zego/callbacks/zim", strings.NewReader(string(body)))
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest:
		default:
			t.Fatalf("%s: status %d: %s", body, w.Code, w.Body)
		}
		if w.Code == http.StatusOK && event == "before_send_msg" {
			if s := w.Body.String(); !strings.HasPrefix(s, `{"result":1,`) && !strings.HasPrefix(s, `{"result":3,`) {
				t.Fatalf("%s: verdict %s", body, s)
			}
		}
	})
}

// BenchmarkZIMCallback is the route's own cost in process, next to
// healthz's, without the network: a before_send_msg from a cached user, one
// the registry does not know (a database read each time), and a user_action
// that changes nothing (a retry: a write transaction that updates no row).
// Each iteration signs a fresh callback, as ZIM does. before_send_msg/
// cached/redis claims each nonce in Redis too, as replicas sharing one do.
func BenchmarkZIMCallback(b *testing.B) {
	quiet := func(s *envSetup) { s.logLevel = slog.LevelInfo; s.logTo = io.Discard }
	e := newEnv(b, quiet, withZIM(apps.BlockUnknown))
	e.createUser("bench-user")
	ts := e.clock.Now().Unix()
	first := mustJSON(b, signedCallback(testCallbackSecret, ts, userAction("bench-user", "s", 0, ts*1000)))
	e.sendCallback(string(first)).want(b, http.StatusOK)
	cases := []struct {
		name   string
		fields map[string]any
		redis  bool
	}{
		{"before_send_msg/cached", beforeSendMsg("bench-user"), false},
		{"before_send_msg/cached/redis", beforeSendMsg("bench-user"), true},
		{"before_send_msg/unknown", beforeSendMsg("nobody"), false},
		{"user_action/retry", userAction("bench-user", "s", 0, ts*1000), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := e
			if c.redis {
				opt, err := redis.ParseURL(redistest.URL(b)) // skips without Redis
				if err != nil {
					b.Fatal(err)
				}
				shared := sharedlimit.New(opt, sharedlimit.Options{Prefix: redistest.Prefix(b), Timeout: 10 * time.Second})
				b.Cleanup(func() { shared.Close() })
				e = newEnv(b, quiet, withZIM(apps.BlockUnknown), func(s *envSetup) { s.nonces = shared })
				e.createUser("bench-user")
			}
			b.ReportAllocs()
			for b.Loop() {
				// Signing and encoding the body is timed too (a few µs):
				// pausing the timer per iteration costs more than that.
				body := mustJSON(b, signedCallback(testCallbackSecret, ts, c.fields))
				req := httptest.NewRequest("POST", "/v1/zego/callbacks/zim", bytes.NewReader(body))
				req.RemoteAddr = "127.0.0.1:40000"
				w := httptest.NewRecorder()
				e.api.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// TestZIMCallbackNoncesShared: with Nonces (Redis, as replicas share it), a
// callback accepted here is claimed there, for the window and the skew
// allowed; one another replica claimed first is refused here, though this
// process never saw it, and then not kept here; and one whose handling
// failed is released there too, so that ZIM's retry passes on another
// replica.
func TestZIMCallbackNoncesShared(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := redistest.Prefix(t)
	shared := sharedlimit.New(opt, sharedlimit.Options{Prefix: prefix, Timeout: 10 * time.Second})
	t.Cleanup(func() { shared.Close() })
	e := newEnv(t, withZIM(apps.BlockUnknown), func(s *envSetup) { s.nonces = shared })
	e.setUpSenders()
	ctx := context.Background()
	ts := e.clock.Now().Unix()
	keyOf := func(cb map[string]any) string { return sharedNonceKey(testAppID, ts, cb["nonce"].(string)) }
	otherReplica := func(cb map[string]any) bool {
		t.Helper()
		fresh, err := shared.Claim(ctx, keyOf(cb), "other-replica", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}

	accepted := e.callback(testCallbackSecret, ts, beforeSendMsg("enabled"))
	e.sendCallback(accepted).want(t, http.StatusOK)
	if otherReplica(accepted) {
		t.Errorf("another replica could claim an accepted callback")
	}
	c := redistest.Client(t)
	keys := redistest.Keys(t, c, prefix)
	want := (callbackWindow + nonceSkew) * time.Second // the env's clock stands still: ts is now
	if len(keys) != 1 {
		t.Fatalf("Redis keys %q, want the accepted callback's", keys)
	}
	if ttl, err := c.PTTL(ctx, keys[0]).Result(); err != nil || ttl > want || ttl < want-time.Minute {
		t.Errorf("the claim expires in %v, %v; want %v", ttl, err, want)
	}

	elsewhere := e.callback(testCallbackSecret, ts, beforeSendMsg("enabled"))
	if !otherReplica(elsewhere) {
		t.Fatal("a new callback is claimed already")
	}
	e.sendCallback(elsewhere).problem(t, http.StatusUnauthorized, codeReplayedCallback)
	if err := shared.Release(ctx, keyOf(elsewhere), "other-replica"); err != nil {
		t.Fatal(err)
	}
	// Its retry, after the other replica failed to handle it, passes here.
	e.sendCallback(elsewhere).want(t, http.StatusOK)

	failed := e.callback(testCallbackSecret, ts, userAction("enabled", "s1", 0, ts*1000))
	e.db.Close() // the login cannot be written
	if r := e.sendCallback(failed); r.status < 500 {
		t.Fatalf("user_action with the database closed = %d, want a 5xx", r.status)
	}
	if !otherReplica(failed) {
		t.Errorf("a callback whose handling failed is still claimed; want it released")
	}
}
