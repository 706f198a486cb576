package zego_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/zego"
	"authsvc/internal/zego/zegofake"
)

const (
	appID  = 1234567
	secret = "0123456789abcdef0123456789abcdef"
)

// epoch is the clock both sides agree on; the fake checks the window
// against it.
var epoch = time.Unix(1_800_000_000, 0)

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// newClient returns a client of app appID for baseURL with cfg's changes.
func newClient(tb testing.TB, baseURL string, change func(*zego.Config)) *zego.Client {
	tb.Helper()
	cfg := zego.Config{
		AppID: appID, ServerSecret: secret, ZIMURL: baseURL, RTCURL: baseURL,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}, Now: fixed(epoch), Rand: rand.Reader,
	}
	if change != nil {
		change(&cfg)
	}
	c, err := zego.NewClient(cfg)
	if err != nil {
		tb.Fatalf("NewClient: %v", err)
	}
	return c
}

func startFake(tb testing.TB) (*zegofake.Fake, string) {
	tb.Helper()
	return zegofake.Start(tb, zegofake.Options{AppID: appID, ServerSecret: secret, Now: fixed(epoch)})
}

func TestNewClientChecksConfig(t *testing.T) {
	t.Parallel()
	good := zego.Config{AppID: 1, ServerSecret: secret, ZIMURL: zego.DefaultZIMURL, RTCURL: zego.DefaultRTCURL,
		HTTPClient: &http.Client{Timeout: time.Second}, Now: time.Now, Rand: rand.Reader}
	if _, err := zego.NewClient(good); err != nil {
		t.Fatalf("NewClient(good) = %v", err)
	}
	tests := []struct {
		name   string
		change func(*zego.Config)
	}{
		{"no app", func(c *zego.Config) { c.AppID = 0 }},
		{"short secret", func(c *zego.Config) { c.ServerSecret = secret[:31] }},
		{"no zim url", func(c *zego.Config) { c.ZIMURL = "" }},
		{"relative url", func(c *zego.Config) { c.RTCURL = "rtc-api.zego.im" }},
		{"url with query", func(c *zego.Config) { c.ZIMURL = "https://zim-api.zego.im/?a=b" }},
		{"ftp url", func(c *zego.Config) { c.ZIMURL = "ftp://zim-api.zego.im" }},
		{"no http client", func(c *zego.Config) { c.HTTPClient = nil }},
		{"no timeout", func(c *zego.Config) { c.HTTPClient = &http.Client{} }},
		{"no clock", func(c *zego.Config) { c.Now = nil }},
		{"no rand", func(c *zego.Config) { c.Rand = nil }},
		{"negative rate", func(c *zego.Config) { c.Rate = -1 }},
	}
	for _, tt := range tests {
		cfg := good
		cfg.ServerSecret = "ffffffffffffffffffffffffffffffff"
		tt.change(&cfg)
		_, err := zego.NewClient(cfg)
		if err == nil {
			t.Errorf("%s: NewClient error = nil, want one", tt.name)
			continue
		}
		if strings.Contains(err.Error(), "ffffffff") {
			t.Errorf("%s: NewClient error %q shows the secret", tt.name, err)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v %s", good, good, good, good); strings.Contains(s, secret) {
		t.Errorf("formatting a Config shows its secret: %s", s)
	}
}

// TestCallShape checks what goes on the wire against the docs, with a
// server that records requests instead of the fake.
func TestCallShape(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reqs []*http.Request
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		reqs = append(reqs, r)
		bodies = append(bodies, string(b))
		mu.Unlock()
		fmt.Fprint(w, `{"Code":0,"Message":"success","RequestId":"7"}`)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/zim", func(cfg *zego.Config) { cfg.RTCURL = srv.URL + "/rtc/" })
	ctx := t.Context()
	if _, err := c.UserRegister(ctx, []zego.User{{ID: "u1", Name: "Ann", Avatar: "https://a/1.png", Extra: "not sent"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyUserInfo(ctx, []zego.User{{ID: "u1", Name: "Ann B", Extra: `{"k":1}`}}); err != nil {
		t.Fatal(err)
	}
	res, err := c.KickoutUser(ctx, "room 1", []string{"u1", "u&2"}, "disabled by admin")
	if err != nil {
		t.Fatal(err)
	}
	if res.RequestID != "7" || res.Failed != nil {
		t.Errorf("KickoutUser result = %+v, want RequestID 7 and no failures", res)
	}

	wantBodies := []string{
		`{"UserInfo":[{"UserId":"u1","UserName":"Ann","UserAvatar":"https://a/1.png"}]}`,
		`{"UserInfo":[{"UserId":"u1","UserName":"Ann B","UserAvatar":"","Extra":"{\"k\":1}"}]}`,
		``,
	}
	wantPath := []string{"/zim/", "/zim/", "/rtc/"}
	wantMethod := []string{"POST", "POST", "GET"}
	wantAction := []string{"UserRegister", "ModifyUserInfo", "KickoutUser"}
	nonces := map[string]bool{}
	for i, r := range reqs {
		q := r.URL.Query()
		if r.Method != wantMethod[i] || r.URL.Path != wantPath[i] || q.Get("Action") != wantAction[i] {
			t.Errorf("call %d: %s %s Action=%s, want %s %s Action=%s", i, r.Method, r.URL.Path, q.Get("Action"), wantMethod[i], wantPath[i], wantAction[i])
		}
		if bodies[i] != wantBodies[i] {
			t.Errorf("call %d body = %s, want %s", i, bodies[i], wantBodies[i])
		}
		if i < 2 && r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("call %d Content-Type = %q, want application/json", i, r.Header.Get("Content-Type"))
		}
		nonce := q.Get("SignatureNonce")
		if len(nonce) != 16 || strings.Trim(nonce, "0123456789abcdef") != "" || nonces[nonce] {
			t.Errorf("call %d SignatureNonce = %q: want 16 fresh lowercase hex characters", i, nonce)
		}
		nonces[nonce] = true
		if q.Get("AppId") != "1234567" || q.Get("Timestamp") != "1800000000" || q.Get("SignatureVersion") != "2.0" {
			t.Errorf("call %d common parameters = %v", i, q)
		}
		if want := zegofake.Sign(appID, nonce, secret, epoch.Unix()); q.Get("Signature") != want {
			t.Errorf("call %d Signature = %s, want %s", i, q.Get("Signature"), want)
		}
	}
	kick := reqs[2].URL
	if !strings.Contains(kick.RawQuery, "&UserId[]=u1&UserId[]=u%262") {
		t.Errorf("KickoutUser query %q does not repeat UserId[] with brackets", kick.RawQuery)
	}
	if q := kick.Query(); q.Get("RoomId") != "room 1" || q.Get("CustomReason") != "disabled by admin" {
		t.Errorf("KickoutUser query = %v", q)
	}
}

// TestAgainstFake runs the actions against the fake and checks both the
// answers and the state the fake ends in.
func TestAgainstFake(t *testing.T) {
	t.Parallel()
	fake, base := startFake(t)
	c := newClient(t, base, nil)
	ctx := t.Context()

	res, err := c.UserRegister(ctx, []zego.User{
		{ID: "a", Name: "Ann"},
		{ID: "b", Name: strings.Repeat("n", 257)},
		{ID: "c", Avatar: "https://x/" + strings.Repeat("a", 500)},
		{ID: strings.Repeat("d", 33)},
		{ID: "e", Name: "Eve", Avatar: "https://x/e.png"},
	})
	if err != nil {
		t.Fatalf("UserRegister(partly bad) = %v, want a result", err)
	}
	wantFailed := map[string]zego.Code{"b": zego.CodeUserNameTooLong, "c": zego.CodeUserAvatarTooLong, strings.Repeat("d", 33): zego.CodeUserIDTooLong}
	gotFailed := map[string]zego.Code{}
	for _, it := range res.Failed {
		gotFailed[it.UserID] = it.SubCode
		if !it.SubCode.PermanentItem() {
			t.Errorf("SubCode %d of %s: PermanentItem() = false, want true", it.SubCode, it.UserID)
		}
	}
	if diff := cmp.Diff(wantFailed, gotFailed); diff != "" {
		t.Errorf("UserRegister failures mismatch (-want +got):\n%s", diff)
	}

	// Every user of the batch failed: a call error with the items.
	_, err = c.UserRegister(ctx, []zego.User{{ID: "a", Name: "Ann again"}})
	var ze *zego.Error
	if !errors.As(err, &ze) || !ze.Code.AlreadyExists() || len(ze.Items) != 1 || !ze.Items[0].SubCode.AlreadyExists() {
		t.Fatalf("UserRegister(existing) = %v, want an *Error with Code and item 660700002", err)
	}
	if zego.Transient(err) || ze.RequestID == "" {
		t.Errorf("UserRegister(existing): Transient = true or RequestID empty in %+v", ze)
	}

	_, err = c.ModifyUserInfo(ctx, []zego.User{{ID: "zz", Name: "Nobody"}})
	if !errors.As(err, &ze) || !ze.Code.NotRegistered() {
		t.Errorf("ModifyUserInfo(unregistered) = %v, want code 660700012", err)
	}
	res, err = c.ModifyUserInfo(ctx, []zego.User{
		{ID: "a", Name: "Ann B", Avatar: "https://x/a.png", Extra: strings.Repeat("x", 2048)},
		{ID: "e", Name: "Eve", Extra: strings.Repeat("x", 2049)},
	})
	if err != nil || len(res.Failed) != 1 || res.Failed[0].UserID != "e" || res.Failed[0].SubCode != zego.CodeInvalidParameter {
		t.Errorf("ModifyUserInfo(extra 2048, 2049) = %+v, %v; want e refused with 660000002", res, err)
	}
	want := map[string]zegofake.User{
		"a": {ID: "a", Name: "Ann B", Avatar: "https://x/a.png", Extra: strings.Repeat("x", 2048)},
		"e": {ID: "e", Name: "Eve", Avatar: "https://x/e.png"},
	}
	if diff := cmp.Diff(want, fake.Users()); diff != "" {
		t.Errorf("fake users mismatch (-want +got):\n%s", diff)
	}

	// A user failing for good until healed, as after an admin's fix.
	fake.FailUser("a", zegofake.CodeUserAvatarTooLong)
	res, err = c.ModifyUserInfo(ctx, []zego.User{{ID: "a", Name: "Ann C"}, {ID: "e", Name: "Eve B"}})
	if err != nil || len(res.Failed) != 1 || res.Failed[0].SubCode != zego.CodeUserAvatarTooLong {
		t.Errorf("ModifyUserInfo(with a failing user) = %+v, %v", res, err)
	}
	fake.HealUser("a")
	if _, err := c.ModifyUserInfo(ctx, []zego.User{{ID: "a", Name: "Ann C"}}); err != nil {
		t.Errorf("ModifyUserInfo(after heal) = %v", err)
	}
	if u, _ := fake.User("a"); u.Name != "Ann C" {
		t.Errorf("fake user a after heal = %+v, want name Ann C", u)
	}

	if _, err := c.KickoutUser(ctx, "r1", []string{"a", "e"}, "bye"); err != nil {
		t.Fatalf("KickoutUser = %v", err)
	}
	calls := fake.Calls()
	last := calls[len(calls)-1]
	if last.Action != "KickoutUser" || last.RoomID != "r1" || !cmp.Equal(last.UserIDs, []string{"a", "e"}) || last.Reason != "bye" {
		t.Errorf("fake's last call = %+v, want KickoutUser r1 [a e] bye", last)
	}
	var actions []string
	for _, c := range calls {
		actions = append(actions, c.Action)
	}
	wantActions := []string{"UserRegister", "UserRegister", "ModifyUserInfo", "ModifyUserInfo", "ModifyUserInfo", "ModifyUserInfo", "KickoutUser"}
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("fake's calls mismatch (-want +got):\n%s", diff)
	}
}

// TestUpdatesArriveInOrder: what a sequence of modifies leaves in the fake is
// the last one sent, and the fake's record has them all in order.
func TestUpdatesArriveInOrder(t *testing.T) {
	t.Parallel()
	fake, base := startFake(t)
	c := newClient(t, base, func(cfg *zego.Config) { cfg.Rate = 1000 })
	fake.PutUser(zegofake.User{ID: "u"})
	for i := range 15 {
		if _, err := c.ModifyUserInfo(t.Context(), []zego.User{{ID: "u", Name: fmt.Sprint("name ", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, call := range fake.Calls() {
		if call.Applied("u") {
			names = append(names, call.Users[0].Name)
		}
	}
	if len(names) != 15 || names[0] != "name 0" || names[14] != "name 14" {
		t.Errorf("applied updates = %q, want name 0 to name 14 in order", names)
	}
	if u, _ := fake.User("u"); u.Name != "name 14" {
		t.Errorf("fake user = %+v, want the last name", u)
	}
}

func TestSignatureRefusals(t *testing.T) {
	t.Parallel()
	_, base := startFake(t)
	const wrong = "ffffffffffffffffffffffffffffffff"
	tests := []struct {
		name   string
		change func(*zego.Config)
		want   zego.Code
	}{
		{"wrong secret", func(c *zego.Config) { c.ServerSecret = wrong }, zego.CodeSignatureWrong},
		{"wrong app", func(c *zego.Config) { c.AppID = 7 }, zego.CodeSignatureWrong},
		{"clock 11 minutes fast", func(c *zego.Config) { c.Now = fixed(epoch.Add(11 * time.Minute)) }, zego.CodeSignatureExpired},
		{"clock 11 minutes slow", func(c *zego.Config) { c.Now = fixed(epoch.Add(-11 * time.Minute)) }, zego.CodeSignatureExpired},
	}
	for _, tt := range tests {
		c := newClient(t, base, tt.change)
		_, err := c.UserRegister(t.Context(), []zego.User{{ID: "x"}})
		var ze *zego.Error
		if !errors.As(err, &ze) || ze.Code != tt.want || !ze.Code.Signature() || zego.Transient(err) {
			t.Errorf("%s: UserRegister = %v, want a non-transient signature error %d", tt.name, err, tt.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, wrong) || strings.Contains(msg, secret) || strings.Contains(msg, "Signature=") {
			t.Errorf("%s: error %q shows a secret or the signature", tt.name, msg)
		}
	}
	// Inside the window is fine on both sides.
	for _, d := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
		c := newClient(t, base, func(c *zego.Config) { c.Now = fixed(epoch.Add(d)) })
		if _, err := c.UserRegister(t.Context(), []zego.User{{ID: fmt.Sprint("skew", d)}}); err != nil {
			t.Errorf("UserRegister with the clock %v off = %v, want success", d, err)
		}
	}
}

func TestInvalidRequestsStayHere(t *testing.T) {
	t.Parallel()
	fake, base := startFake(t)
	c := newClient(t, base, nil)
	ctx := t.Context()
	many := make([]zego.User, 101)
	for i := range many {
		many[i].ID = fmt.Sprint(i)
	}
	errs := []error{}
	_, err := c.UserRegister(ctx, nil)
	errs = append(errs, err)
	_, err = c.ModifyUserInfo(ctx, many)
	errs = append(errs, err)
	_, err = c.KickoutUser(ctx, "", []string{"a"}, "")
	errs = append(errs, err)
	_, err = c.KickoutUser(ctx, "r", []string{"1", "2", "3", "4", "5", "6"}, "")
	errs = append(errs, err)
	_, err = c.KickoutUser(ctx, "r", []string{"1"}, strings.Repeat("r", 257))
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, zego.ErrInvalidRequest) || zego.Transient(err) {
			t.Errorf("invalid request %d: error = %v, want ErrInvalidRequest, not transient", i, err)
		}
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("fake got %d calls for invalid requests, want 0", n)
	}
	if _, err := c.UserRegister(ctx, many[:100]); err != nil {
		t.Errorf("UserRegister(100 users) = %v", err)
	}
}

func TestTransientFailures(t *testing.T) {
	t.Parallel()
	fake, base := startFake(t)
	c := newClient(t, base, nil)
	fake.FailNext(2, http.StatusServiceUnavailable)
	for range 2 {
		_, err := c.UserRegister(t.Context(), []zego.User{{ID: "a"}})
		var ze *zego.Error
		if !errors.As(err, &ze) || ze.Status != 503 || !zego.Transient(err) {
			t.Errorf("UserRegister during a 503 = %v, want a transient HTTP 503 *Error", err)
		}
	}
	if _, err := c.UserRegister(t.Context(), []zego.User{{ID: "a"}}); err != nil {
		t.Errorf("UserRegister after the outage = %v", err)
	}
	if _, ok := fake.User("a"); !ok {
		t.Errorf("user a not registered after the outage")
	}

	// Nobody listening: a network error, transient.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	_, err := newClient(t, deadURL, nil).UserRegister(t.Context(), []zego.User{{ID: "a"}})
	if !zego.Transient(err) || strings.Contains(err.Error(), "Signature") {
		t.Errorf("UserRegister to a closed port = %v, want transient without the URL", err)
	}

	// The caller's own cancellation is not transient.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.UserRegister(ctx, []zego.User{{ID: "b"}}); err == nil || zego.Transient(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("UserRegister(cancelled) = %v, want context.Canceled, not transient", err)
	}
}

// TestHostileUpstream: oversized, garbled and non-JSON answers are errors,
// not memory growth or panics.
func TestHostileUpstream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		transient bool
	}{
		{"huge", 200, `{"Code":0,"Message":"` + strings.Repeat("x", zego.MaxResponseBytes) + `"}`, true},
		{"garbled", 200, `{"Code":`, true},
		{"html 502", 502, `<html>bad gateway</html>`, true},
		{"json 500", 500, `{"Code":0}`, true},
		{"404", 404, `not found`, false},
		{"429", 429, ``, true},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			fmt.Fprint(w, tt.body)
		}))
		_, err := newClient(t, srv.URL, nil).UserRegister(t.Context(), []zego.User{{ID: "a"}})
		srv.Close()
		var ze *zego.Error
		if !errors.As(err, &ze) || ze.Status != tt.status || zego.Transient(err) != tt.transient {
			t.Errorf("%s: UserRegister = %v (%+v), want *Error with status %d, transient %v", tt.name, err, ze, tt.status, tt.transient)
		}
		if tt.name == "huge" && !errors.Is(err, zego.ErrMalformedResponse) {
			t.Errorf("huge: error = %v, want ErrMalformedResponse", err)
		}
		if tt.name == "429" && !zego.RateLimited(err) {
			t.Errorf("429: RateLimited = false, want true")
		}
	}
}

// TestHangTimesOut: a ZEGO that never answers costs the client its
// timeout, on the bubble's clock.
func TestHangTimesOut(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := zegofake.New(zegofake.Options{AppID: appID, ServerSecret: secret, Now: time.Now})
		defer fake.Close()
		c := newClient(t, "http://zego.test", func(cfg *zego.Config) {
			cfg.HTTPClient = fake.HTTPClient(5 * time.Second)
			cfg.Now = time.Now
		})
		fake.HangNext(1)
		start := time.Now()
		_, err := c.UserRegister(t.Context(), []zego.User{{ID: "a"}})
		if !zego.Transient(err) || time.Since(start) != 5*time.Second {
			t.Errorf("UserRegister to a hung ZEGO = %v after %v, want transient after 5s", err, time.Since(start))
		}
		if _, err := c.UserRegister(t.Context(), []zego.User{{ID: "a"}}); err != nil {
			t.Errorf("UserRegister after the hang = %v", err)
		}
		if calls := fake.Calls(); len(calls) != 2 || calls[0].Fault != "hang" || !calls[1].Applied("a") {
			t.Errorf("fake calls = %+v, want a hang then a register of a", calls)
		}
	})
}

// TestPacedClientStaysUnderTheLimit: 100 calls as fast as the client allows
// meet no rate-limited answer and take 99 intervals of 50ms.
func TestPacedClientStaysUnderTheLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := zegofake.New(zegofake.Options{AppID: appID, ServerSecret: secret, Now: time.Now})
		defer fake.Close()
		c := newClient(t, "http://zego.test", func(cfg *zego.Config) {
			cfg.HTTPClient = fake.HTTPClient(5 * time.Second)
			cfg.Now = time.Now
		})
		start := time.Now()
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				if _, err := c.UserRegister(t.Context(), []zego.User{{ID: fmt.Sprint("u", i)}}); err != nil {
					t.Errorf("UserRegister u%d = %v", i, err)
				}
			})
		}
		wg.Wait()
		if got, want := time.Since(start), 99*50*time.Millisecond; got != want {
			t.Errorf("100 paced calls took %v, want %v", got, want)
		}
		if n := len(fake.Users()); n != 100 {
			t.Errorf("fake has %d users, want 100", n)
		}
	})
}

// spacedSlots is a Slots of one slot per interval and key, on time.Now: what
// a rate limit of burst 1 in Redis gives the replicas sharing it.
type spacedSlots struct {
	interval time.Duration
	mu       sync.Mutex
	next     map[string]time.Time
	asked    int
}

func (s *spacedSlots) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	now := time.Now()
	if wait := s.next[key].Sub(now); wait > 0 {
		return false, wait, nil
	}
	s.next[key] = now.Add(s.interval)
	return true, 0, nil
}

// TestSharedSlotsPaceReplicas: two clients of one app, as two replicas
// would hold, each paced at ZEGO's rate on its own, draw rate-limited
// answers from the fake, which counts their calls together as ZEGO does.
// Sharing slots, 100 calls between them meet none and take 99 intervals.
func TestSharedSlotsPaceReplicas(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprint("shared=", shared), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				fake := zegofake.New(zegofake.Options{AppID: appID, ServerSecret: secret, Now: time.Now})
				defer fake.Close()
				slots := &spacedSlots{interval: time.Second / zego.DefaultRate, next: map[string]time.Time{}}
				var replicas [2]*zego.Client
				for i := range replicas {
					replicas[i] = newClient(t, "http://zego.test", func(cfg *zego.Config) {
						cfg.HTTPClient = fake.HTTPClient(5 * time.Second)
						cfg.Now = time.Now
						if shared {
							cfg.Shared = slots
						}
					})
				}
				start := time.Now()
				var limited atomic.Int64
				var wg sync.WaitGroup
				for i := range 100 {
					wg.Go(func() {
						_, err := replicas[i%2].UserRegister(t.Context(), []zego.User{{ID: fmt.Sprint("u", i)}})
						switch {
						case zego.RateLimited(err):
							limited.Add(1)
						case err != nil:
							t.Errorf("UserRegister u%d = %v", i, err)
						}
					})
				}
				wg.Wait()
				if !shared {
					if limited.Load() == 0 {
						t.Errorf("two replicas pacing alone met no rate-limited answer: the fake does not count them together")
					}
					return
				}
				if n := limited.Load(); n != 0 {
					t.Errorf("%d of 100 calls sharing slots were rate-limited", n)
				}
				if got, want := time.Since(start), 99*50*time.Millisecond; got != want {
					t.Errorf("100 calls sharing slots took %v, want %v", got, want)
				}
				if n := len(fake.Users()); n != 100 {
					t.Errorf("fake has %d users, want 100", n)
				}
				if slots.asked < 100 {
					t.Errorf("the slots were asked %d times for 100 calls", slots.asked)
				}
			})
		})
	}
}

// TestSharedSlotsWaitHonoursContext: a call waiting for a shared slot gives
// up when its context ends, asks again after a second at most, and a Slots
// that fails lets the call go.
func TestSharedSlotsWaitHonoursContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := zegofake.New(zegofake.Options{AppID: appID, ServerSecret: secret, Now: time.Now})
		defer fake.Close()
		busy := slotsFunc(func(context.Context, string) (bool, time.Duration, error) { return false, time.Hour, nil })
		c := newClient(t, "http://zego.test", func(cfg *zego.Config) {
			cfg.HTTPClient = fake.HTTPClient(5 * time.Second)
			cfg.Now = time.Now
			cfg.Shared = busy
		})
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		start := time.Now()
		if _, err := c.UserRegister(ctx, []zego.User{{ID: "w"}}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Errorf("UserRegister with no slot free = %v after %v, want the deadline after 3s", err, time.Since(start))
		}
		if len(fake.Users()) != 0 {
			t.Errorf("a call with no slot reached ZEGO")
		}

		// A wait is at most a second before the slots are asked again.
		asked := 0
		late := slotsFunc(func(context.Context, string) (bool, time.Duration, error) {
			asked++
			return asked > 1, time.Hour, nil
		})
		c = newClient(t, "http://zego.test", func(cfg *zego.Config) {
			cfg.HTTPClient = fake.HTTPClient(5 * time.Second)
			cfg.Now = time.Now
			cfg.Shared = late
		})
		start = time.Now()
		if _, err := c.UserRegister(t.Context(), []zego.User{{ID: "l"}}); err != nil || time.Since(start) != time.Second || asked != 2 {
			t.Errorf("UserRegister told to wait an hour = %v after %v, %d askings; want success after 1s, 2 askings", err, time.Since(start), asked)
		}

		broken := slotsFunc(func(context.Context, string) (bool, time.Duration, error) { return false, 0, errors.New("redis down") })
		c = newClient(t, "http://zego.test", func(cfg *zego.Config) {
			cfg.HTTPClient = fake.HTTPClient(5 * time.Second)
			cfg.Now = time.Now
			cfg.Shared = broken
		})
		if _, err := c.UserRegister(t.Context(), []zego.User{{ID: "b"}}); err != nil {
			t.Errorf("UserRegister with failing slots = %v, want it sent", err)
		}
	})
}

type slotsFunc func(ctx context.Context, key string) (bool, time.Duration, error)

func (f slotsFunc) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	return f(ctx, key)
}

// TestRateLimitedAnswerHoldsTheAction: a client paced faster than ZEGO
// allows gets 660700001 and then waits a second before that action's next
// call; other actions are not held.
func TestRateLimitedAnswerHoldsTheAction(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := zegofake.New(zegofake.Options{AppID: appID, ServerSecret: secret, Now: time.Now})
		defer fake.Close()
		c := newClient(t, "http://zego.test", func(cfg *zego.Config) {
			cfg.HTTPClient = fake.HTTPClient(5 * time.Second)
			cfg.Now = time.Now
			cfg.Rate = 1000
		})
		var limited error
		var at time.Time
		for i := range 21 {
			_, err := c.UserRegister(t.Context(), []zego.User{{ID: fmt.Sprint("u", i)}})
			if err != nil {
				limited, at = err, time.Now()
				break
			}
		}
		var ze *zego.Error
		if !errors.As(limited, &ze) || ze.Code != zego.CodeRateLimited || !zego.RateLimited(limited) || !zego.Transient(limited) {
			t.Fatalf("21st UserRegister within a second = %v, want transient 660700001", limited)
		}
		fake.PutUser(zegofake.User{ID: "m"})
		before := time.Now()
		if _, err := c.ModifyUserInfo(t.Context(), []zego.User{{ID: "m", Name: "M"}}); err != nil || time.Since(before) != 0 {
			t.Errorf("ModifyUserInfo after UserRegister was limited = %v after %v, want at once", err, time.Since(before))
		}
		if _, err := c.UserRegister(t.Context(), []zego.User{{ID: "late"}}); err != nil {
			t.Errorf("UserRegister after the hold = %v", err)
		}
		if got := time.Since(at); got != time.Second {
			t.Errorf("next UserRegister started %v after the limited answer, want 1s", got)
		}

		// A caller's own back-off.
		c.Hold(zego.ActionModifyUserInfo, 7*time.Second)
		before = time.Now()
		if _, err := c.ModifyUserInfo(t.Context(), []zego.User{{ID: "m", Name: "N"}}); err != nil || time.Since(before) != 7*time.Second {
			t.Errorf("ModifyUserInfo after Hold(7s) = %v after %v, want success after 7s", err, time.Since(before))
		}
	})
}

// The fake's record keeps ZEGO's form of the kick parameters.
func TestKickoutEscaping(t *testing.T) {
	t.Parallel()
	fake, base := startFake(t)
	c := newClient(t, base, nil)
	reason := "bye & 再见 / 100% = done?"
	if _, err := c.KickoutUser(t.Context(), "room/1 ?", []string{"a+b", "c d"}, reason); err != nil {
		t.Fatal(err)
	}
	got := fake.Calls()[0]
	if got.RoomID != "room/1 ?" || !cmp.Equal(got.UserIDs, []string{"a+b", "c d"}) || got.Reason != reason {
		t.Errorf("fake got %+v", got)
	}
}
