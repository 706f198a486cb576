package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"

	"authsvc/api"
	"authsvc/internal/httpapi/httpapitest"
)

// The ZIM Web example is browser JavaScript. CI has no browser and no Node,
// so these tests run it in goja, a JavaScript engine written in Go, with a
// fetch that makes real HTTP requests to an authsvc server in the test and
// holds each request and response to api/openapi.yaml, and with stand-ins
// for the ZEGO SDKs (testdata/fake-sdks.js) that record what the example
// asks of them.

// Test fixtures; the secrets are made up.
const (
	testAppID    = 1234567890
	testSecret   = "0123456789abcdef0123456789abcdef"
	testAdminKey = "admin-key-for-the-examples-0123"
	testPassword = "correct horse battery"
	pageOrigin   = "http://127.0.0.1:8000" // where the example page is served from
	tokenTTL     = time.Hour
	sessionTTL   = 2 * time.Hour
)

// The example's scripts, in the order index.html loads them.
// page.js, which needs a DOM, is only compiled.
var exampleScripts = []string{"zim-web/authsvc-client.js", "zim-web/zim-login.js", "zim-web/rtc-room.js", "zim-web/app.js"}

// clock is the server's clock, which tests move forward to bring a token
// near its expiry.
type clock struct{ unix atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(c.unix.Load(), 0) }
func (c *clock) Advance(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

// server is authsvc's HTTP API on a fresh database, as the browser sees it.
type server struct {
	url   string
	clock *clock
}

func newServer(t *testing.T) *server {
	t.Helper()
	clk := &clock{}
	clk.unix.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).Unix())
	h, _ := httpapitest.New(t, httpapitest.Options{
		AppID: testAppID, Secret: testSecret, AdminKey: testAdminKey, SessionKey: "session-key-for-the-examples-0123456789",
		SessionTTL: sessionTTL, TokenTTL: tokenTTL, CORSOrigins: []string{pageOrigin}, Now: clk.Now,
	})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{url: ts.URL, clock: clk}
}

// admin makes an admin call from Go, as a trusted backend would, and checks
// it against the spec too.
func (s *server) admin(t *testing.T, method, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, respBody := roundTrip(t, req, b)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, respBody)
	}
	if out != nil {
		if err := json.Unmarshal(respBody, out); err != nil {
			t.Fatal(err)
		}
	}
}

// verify asks POST /v1/token/verify what it says about tok.
func (s *server) verify(t *testing.T, tok string) api.VerifyResponse {
	t.Helper()
	var v api.VerifyResponse
	s.admin(t, "POST", "/v1/token/verify", map[string]any{"token": tok}, &v)
	return v
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func router(t testing.TB) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		var doc *openapi3.T
		if doc, specErr = openapi3.NewLoader().LoadFromData(api.Spec); specErr != nil {
			return
		}
		if specErr = doc.Validate(context.Background()); specErr != nil {
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatalf("api/openapi.yaml: %v", specErr)
	}
	return specRouter
}

// bearerOnly accepts a request for a route secured by the spec only if it
// carries a bearer credential, which is what every secured route takes.
func bearerOnly(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme == nil || in.SecurityScheme.Type != "http" || in.SecurityScheme.Scheme != "bearer" {
		return fmt.Errorf("security scheme %q is not the spec's bearer scheme", in.SecuritySchemeName)
	}
	cred, ok := strings.CutPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ")
	if !ok || cred == "" {
		return fmt.Errorf("no Authorization: Bearer header")
	}
	return nil
}

// roundTrip sends req, whose body is body, after checking the request against
// the spec, and checks the response against the spec as well. Mismatches
// fail the test; the response is returned either way.
func roundTrip(t *testing.T, req *http.Request, body []byte) (*http.Response, []byte) {
	t.Helper()
	route, params, err := router(t).FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in api/openapi.yaml: %v", req.Method, req.URL.Path, err)
	}
	reqIn := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerOnly, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), reqIn); err != nil {
		t.Errorf("%s %s %s\n  does not match api/openapi.yaml: %v", req.Method, req.URL.Path, body, err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body)) // validation read it

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	respIn := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqIn,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), respIn); err != nil {
		t.Errorf("%s %s -> %d %s\n  does not match api/openapi.yaml: %v", req.Method, req.URL.Path, resp.StatusCode, respBody, err)
	}
	return resp, respBody
}

// exchange is one call the example made through fetch.
type exchange struct {
	Method, Path string
	Request      map[string]any
	Status       int
	Response     map[string]any
}

// browser is a goja runtime with what the example needs of a browser: fetch
// (real HTTP, with the CORS checks a browser makes) and console.
type browser struct {
	t             *testing.T
	vm            *goja.Runtime
	exchanges     []exchange
	consoleErrors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{t: t, vm: goja.New()}
	must(t, b.vm.Set("fetch", b.fetch))
	console := b.vm.NewObject()
	must(t, console.Set("log", func(goja.FunctionCall) goja.Value { return goja.Undefined() }))
	must(t, console.Set("error", func(call goja.FunctionCall) goja.Value {
		var parts []string
		for _, a := range call.Arguments {
			s := a.String()
			if o, ok := a.(*goja.Object); ok {
				if code := o.Get("code"); code != nil && !goja.IsUndefined(code) {
					s += " (code " + code.String() + ")"
				}
			}
			parts = append(parts, s)
		}
		b.consoleErrors = append(b.consoleErrors, strings.Join(parts, " "))
		return goja.Undefined()
	}))
	must(t, b.vm.Set("console", console))
	for _, name := range append(slices.Clone(exampleScripts), "testdata/fake-sdks.js") {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.vm.RunScript(name, string(src)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// run evaluates JavaScript; the promise jobs it starts run before it returns.
func (b *browser) run(code string) goja.Value {
	b.t.Helper()
	v, err := b.vm.RunString(code)
	if err != nil {
		b.t.Fatalf("%s: %v", code, err)
	}
	return v
}

// await runs code, which must yield a promise, and returns what it resolved
// to. Since fetch answers at once, every promise has settled by then.
func (b *browser) await(code string) goja.Value {
	b.t.Helper()
	p, ok := b.run(code).Export().(*goja.Promise)
	if !ok {
		b.t.Fatalf("%s did not return a promise", code)
	}
	switch p.State() {
	case goja.PromiseStateFulfilled:
		return p.Result()
	case goja.PromiseStateRejected:
		b.t.Fatalf("%s was rejected: %v", code, p.Result())
	default:
		b.t.Fatalf("%s is still pending", code)
	}
	return nil
}

// get decodes the JSON form of a JavaScript expression's value into out.
func (b *browser) get(expr string, out any) {
	b.t.Helper()
	s := b.run("JSON.stringify(" + expr + ")").String()
	if err := json.Unmarshal([]byte(s), out); err != nil {
		b.t.Fatalf("%s = %s: %v", expr, s, err)
	}
}

// fetch is window.fetch for the example: it makes the request for real,
// first as a CORS preflight from pageOrigin as a browser would, and answers
// with a minimal Response (ok, status, statusText, headers.get, json, text).
func (b *browser) fetch(call goja.FunctionCall) goja.Value {
	t, vm := b.t, b.vm // not t.Helper(): the caller is goja
	url := call.Argument(0).String()
	method, body := "GET", ""
	header := http.Header{}
	if init, ok := call.Argument(1).(*goja.Object); ok {
		if m := init.Get("method"); m != nil && !goja.IsUndefined(m) {
			method = strings.ToUpper(m.String())
		}
		if bd := init.Get("body"); bd != nil && !goja.IsUndefined(bd) && !goja.IsNull(bd) {
			body = bd.String()
		}
		if h, ok := init.Get("headers").(*goja.Object); ok {
			for _, k := range h.Keys() {
				header.Set(k, h.Get(k).String())
			}
		}
	}
	header.Set("Origin", pageOrigin)
	if err := b.preflight(method, url, header); err != nil {
		t.Errorf("fetch %s %s: a browser would block it: %v", method, url, err)
		return vm.ToValue(b.rejected(vm.NewTypeError("Failed to fetch")))
	}

	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return vm.ToValue(b.rejected(vm.NewTypeError(err.Error())))
	}
	req.Header = header
	resp, respBody := roundTrip(t, req, []byte(body))
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != pageOrigin && got != "*" {
		t.Errorf("fetch %s %s: Access-Control-Allow-Origin %q; a browser would hide the answer", method, url, got)
		return vm.ToValue(b.rejected(vm.NewTypeError("Failed to fetch")))
	}

	ex := exchange{Method: method, Path: req.URL.Path, Status: resp.StatusCode}
	if body != "" {
		if err := json.Unmarshal([]byte(body), &ex.Request); err != nil {
			t.Errorf("fetch %s %s: the body is not a JSON object: %s", method, url, body)
		}
	}
	_ = json.Unmarshal(respBody, &ex.Response)
	b.exchanges = append(b.exchanges, ex)

	r := vm.NewObject()
	must(t, r.Set("ok", resp.StatusCode/100 == 2))
	must(t, r.Set("status", resp.StatusCode))
	must(t, r.Set("statusText", http.StatusText(resp.StatusCode)))
	headers := vm.NewObject()
	must(t, headers.Set("get", func(name string) goja.Value {
		if v := resp.Header.Values(name); len(v) > 0 {
			return vm.ToValue(strings.Join(v, ", "))
		}
		return goja.Null()
	}))
	must(t, r.Set("headers", headers))
	must(t, r.Set("text", func() *goja.Promise { return b.resolved(vm.ToValue(string(respBody))) }))
	must(t, r.Set("json", func() *goja.Promise {
		parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
		v, err := parse(goja.Undefined(), vm.ToValue(string(respBody)))
		if err != nil {
			return b.rejected(vm.ToValue(err))
		}
		return b.resolved(v)
	}))
	return vm.ToValue(b.resolved(r))
}

// preflight makes the OPTIONS request a browser sends before a cross-origin
// request that is not "simple", and applies the browser's checks to it.
func (b *browser) preflight(method, url string, header http.Header) error {
	var custom []string
	for k := range header {
		k = strings.ToLower(k)
		if k == "origin" || k == "accept" || k == "accept-language" || k == "content-language" ||
			k == "content-type" && isSimpleContentType(header.Get("Content-Type")) {
			continue
		}
		custom = append(custom, k)
	}
	sort.Strings(custom)
	if len(custom) == 0 && (method == "GET" || method == "HEAD" || method == "POST") {
		return nil
	}
	req, err := http.NewRequest(http.MethodOptions, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Origin", pageOrigin)
	req.Header.Set("Access-Control-Request-Method", method)
	if len(custom) > 0 {
		req.Header.Set("Access-Control-Request-Headers", strings.Join(custom, ","))
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("preflight answered %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != pageOrigin && got != "*" {
		return fmt.Errorf("preflight allows origin %q, not %s (AUTHSVC_CORS_ORIGINS)", got, pageOrigin)
	}
	allowed := strings.ToLower(strings.Join(resp.Header.Values("Access-Control-Allow-Headers"), ","))
	for _, h := range custom {
		if !slices.Contains(splitTrim(allowed), h) {
			return fmt.Errorf("preflight does not allow header %s (allows %q)", h, allowed)
		}
	}
	if method != "GET" && method != "HEAD" && method != "POST" {
		if !slices.Contains(splitTrim(resp.Header.Get("Access-Control-Allow-Methods")), method) {
			return fmt.Errorf("preflight does not allow method %s", method)
		}
	}
	return nil
}

func isSimpleContentType(ct string) bool {
	mt, _, _ := strings.Cut(strings.ToLower(ct), ";")
	switch strings.TrimSpace(mt) {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return true
	}
	return false
}

func splitTrim(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (b *browser) resolved(v goja.Value) *goja.Promise {
	p, resolve, _ := b.vm.NewPromise()
	must(b.t, resolve(v))
	return p
}

func (b *browser) rejected(v goja.Value) *goja.Promise {
	p, _, reject := b.vm.NewPromise()
	must(b.t, reject(v))
	return p
}

// paths lists the calls made so far as "METHOD /path STATUS".
func (b *browser) paths() []string {
	var out []string
	for _, e := range b.exchanges {
		out = append(out, fmt.Sprintf("%s %s %d", e.Method, e.Path, e.Status))
	}
	return out
}

// loggedIn starts a server with the user alice and a browser in which the
// example's client has logged in as alice.
func loggedIn(t *testing.T) (*server, *browser) {
	t.Helper()
	srv := newServer(t)
	srv.admin(t, "POST", "/v1/users", map[string]any{"userID": "alice", "userName": "Alice", "password": testPassword}, nil)
	b := newBrowser(t)
	must(t, b.vm.Set("authsvcURL", srv.url+"/")) // the client trims the slash
	must(t, b.vm.Set("password", testPassword))
	var session struct {
		UserID    string
		ExpiresIn int
	}
	must(t, b.vm.Set("session", b.await(`var client = new AuthsvcClient(authsvcURL); client.logIn('alice', password)`)))
	b.get("session", &session)
	if session.UserID != "alice" || session.ExpiresIn != int(sessionTTL/time.Second) {
		t.Fatalf("logIn resolved to %+v", session)
	}
	return srv, b
}

type zimCall struct {
	Method, UserID, UserName, Token string
}

// TestZIMFlow: the client logs in, gets a token, logs in to ZIM with it; when
// ZIM says the token will expire, it renews the token with authsvc and hands
// the new one to zim.renewToken.
func TestZIMFlow(t *testing.T) {
	t.Parallel()
	srv, b := loggedIn(t)

	b.await(`connectZIM(FakeZIM, client)`)
	var appID int64
	b.get("FakeZIM.instance.config.appID", &appID)
	if appID != testAppID {
		t.Errorf("ZIM.create got appID %d, want %d", appID, testAppID)
	}
	first := b.exchanges[len(b.exchanges)-1]
	if diff := cmp.Diff([]string{"POST /v1/sessions 200", "POST /v1/token 200"}, b.paths()); diff != "" {
		t.Fatalf("calls to authsvc (-want +got):\n%s", diff)
	}
	tok1, _ := first.Response["token"].(string)
	var calls []zimCall
	b.get("FakeZIM.instance.calls", &calls)
	want := []zimCall{{Method: "login", UserID: "alice", UserName: "Alice", Token: tok1}}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Fatalf("ZIM calls after connectZIM (-want +got):\n%s", diff)
	}
	if v := srv.verify(t, tok1); !v.Valid || v.UserID != "alice" || v.AppID != testAppID || v.Room != nil {
		t.Errorf("the token given to zim.login verifies as %+v", v)
	}

	// 30 seconds before expiry, ZIM fires tokenWillExpire.
	srv.clock.Advance(tokenTTL - 30*time.Second)
	b.await(`FakeZIM.instance.fire('tokenWillExpire', { second: 30 })`)
	if len(b.exchanges) != 3 {
		t.Fatalf("calls to authsvc after tokenWillExpire: %q", b.paths())
	}
	renew := b.exchanges[2]
	if renew.Path != "/v1/token/renew" || renew.Status != 200 || renew.Request["token"] != tok1 {
		t.Fatalf("tokenWillExpire made %s %s %d with %v, want a renewal of the current token", renew.Method, renew.Path, renew.Status, renew.Request)
	}
	tok2, _ := renew.Response["token"].(string)
	if tok2 == "" || tok2 == tok1 {
		t.Fatalf("renewal answered %v", renew.Response)
	}
	if exp1, exp2 := first.Response["expiresAt"].(float64), renew.Response["expiresAt"].(float64); exp2 <= exp1 {
		t.Errorf("renewed token expires at %v, not after the current one's %v", exp2, exp1)
	}
	b.get("FakeZIM.instance.calls", &calls)
	want = append(want, zimCall{Method: "renewToken", Token: tok2})
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("ZIM calls after tokenWillExpire (-want +got):\n%s", diff)
	}
	if v := srv.verify(t, tok2); !v.Valid || v.UserID != "alice" {
		t.Errorf("the renewed token verifies as %+v", v)
	}
	if len(b.consoleErrors) > 0 {
		t.Errorf("console.error: %q", b.consoleErrors)
	}

	// Once the authsvc session has ended, renewal fails with unauthorized,
	// which the example reports, and ZIM is given nothing.
	srv.clock.Advance(sessionTTL)
	b.await(`FakeZIM.instance.fire('tokenWillExpire', { second: 30 })`)
	if last := b.paths()[len(b.exchanges)-1]; last != "POST /v1/token/renew 401" {
		t.Errorf("renewal after the session ended: %s, want 401", last)
	}
	b.get("FakeZIM.instance.calls", &calls)
	if len(calls) != len(want) {
		t.Errorf("ZIM calls after a failed renewal: %+v", calls)
	}
	if len(b.consoleErrors) != 1 || !strings.Contains(b.consoleErrors[0], "(code unauthorized)") {
		t.Errorf("console.error after a failed renewal: %q, want one unauthorized error", b.consoleErrors)
	}
}

type rtcCall struct {
	Method, RoomID, Token, UserID, UserName string
	UserUpdate                              bool
}

// TestRTCFlow: the client gets a room token with privileges and logs in to
// the room; on the engine's tokenWillExpire for that room it renews the
// token, keeping the privileges, and calls renewToken(token, roomID).
func TestRTCFlow(t *testing.T) {
	t.Parallel()
	srv, b := loggedIn(t)
	room := api.Room{RoomID: "room-7", Login: true, Publish: true, StreamIDs: []string{"alice-cam"}}

	b.run(fmt.Sprintf(`var engine = new FakeExpressEngine(%d, 'wss://rtc.example.invalid');`, testAppID))
	b.await(`joinRoom(engine, client, { roomID: 'room-7', login: true, publish: true, streamIDs: ['alice-cam'] })`)
	if diff := cmp.Diff([]string{"POST /v1/sessions 200", "POST /v1/token 200"}, b.paths()); diff != "" {
		t.Fatalf("calls to authsvc (-want +got):\n%s", diff)
	}
	issue := b.exchanges[1]
	var asked api.Room
	remarshal(t, issue.Request["room"], &asked)
	if diff := cmp.Diff(room, asked); diff != "" {
		t.Errorf("POST /v1/token asked for room (-want +got):\n%s", diff)
	}
	tok1, _ := issue.Response["token"].(string)
	v1 := srv.verify(t, tok1)
	if !v1.Valid || v1.UserID != "alice" || v1.Room == nil || !cmp.Equal(*v1.Room, room) {
		t.Errorf("the room token verifies as %+v, room %+v", v1, v1.Room)
	}
	var calls []rtcCall
	b.get("engine.calls", &calls)
	want := []rtcCall{{Method: "loginRoom", RoomID: "room-7", Token: tok1, UserID: "alice", UserName: "Alice", UserUpdate: true}}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Fatalf("engine calls after joinRoom (-want +got):\n%s", diff)
	}

	// A warning for another room is not this token's business.
	b.await(`engine.fire('tokenWillExpire', 'another-room')`)
	if len(b.exchanges) != 2 {
		t.Errorf("tokenWillExpire for another room made calls: %q", b.paths())
	}

	srv.clock.Advance(tokenTTL - 30*time.Second)
	b.await(`engine.fire('tokenWillExpire', 'room-7')`)
	if len(b.exchanges) != 3 {
		t.Fatalf("calls to authsvc after tokenWillExpire: %q", b.paths())
	}
	renew := b.exchanges[2]
	if renew.Path != "/v1/token/renew" || renew.Status != 200 || renew.Request["token"] != tok1 {
		t.Fatalf("tokenWillExpire made %s %s %d with %v, want a renewal of the room token", renew.Method, renew.Path, renew.Status, renew.Request)
	}
	tok2, _ := renew.Response["token"].(string)
	v2 := srv.verify(t, tok2)
	if !v2.Valid || v2.UserID != "alice" || v2.Room == nil || !cmp.Equal(*v2.Room, room) {
		t.Errorf("the renewed room token verifies as %+v, room %+v", v2, v2.Room)
	}
	if v2.ExpiresAt <= v1.ExpiresAt {
		t.Errorf("renewed room token expires at %d, not after the current one's %d", v2.ExpiresAt, v1.ExpiresAt)
	}
	b.get("engine.calls", &calls)
	want = append(want, rtcCall{Method: "renewToken", RoomID: "room-7", Token: tok2})
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("engine calls after tokenWillExpire (-want +got):\n%s", diff)
	}
	if len(b.consoleErrors) > 0 {
		t.Errorf("console.error: %q", b.consoleErrors)
	}
}

// TestAppConnect runs the page's whole flow, connect in app.js, with the
// SDK globals the page expects.
func TestAppConnect(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.admin(t, "POST", "/v1/users", map[string]any{"userID": "alice", "password": testPassword}, nil)
	b := newBrowser(t)
	must(t, b.vm.Set("authsvcURL", srv.url))
	must(t, b.vm.Set("password", testPassword))
	b.await(fmt.Sprintf(`var ZIM = FakeZIM, ZegoExpressEngine = FakeExpressEngine, shown = [];
		connect(authsvcURL, 'alice', password, { appID: %d, server: 'wss://rtc.example.invalid', roomID: 'room-1' },
			(line) => shown.push(line))`, testAppID))
	want := []string{"POST /v1/sessions 200", "POST /v1/token 200", "POST /v1/token 200"}
	if diff := cmp.Diff(want, b.paths()); diff != "" {
		t.Fatalf("calls to authsvc (-want +got):\n%s", diff)
	}
	if _, ok := b.exchanges[1].Request["room"]; ok {
		t.Errorf("the ZIM token request names a room: %v", b.exchanges[1].Request)
	}
	var room api.Room
	remarshal(t, b.exchanges[2].Request["room"], &room)
	if diff := cmp.Diff(api.Room{RoomID: "room-1", Login: true, Publish: true}, room); diff != "" {
		t.Errorf("the RTC token request's room (-want +got):\n%s", diff)
	}
	var shown []string
	b.get("shown", &shown)
	if len(shown) != 3 || !strings.HasPrefix(shown[0], "authsvc: logged in as alice") ||
		!strings.HasPrefix(shown[1], "ZIM: logged in") || !strings.HasPrefix(shown[2], "RTC: in room room-1 until 2026-") {
		t.Errorf("connect showed %q", shown)
	}
}

func remarshal(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// TestLogInRefused: a wrong password rejects logIn with an AuthsvcError that
// carries the problem's status and code.
func TestLogInRefused(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.admin(t, "POST", "/v1/users", map[string]any{"userID": "alice", "password": testPassword}, nil)
	b := newBrowser(t)
	must(t, b.vm.Set("authsvcURL", srv.url))
	got := b.await(`new AuthsvcClient(authsvcURL).logIn('alice', 'not the password').then(
		() => 'resolved',
		(err) => [err instanceof AuthsvcError, err instanceof Error, err.status, err.code].join(' '))`).String()
	if want := "true true 401 invalid_credentials"; got != want {
		t.Errorf("logIn with a wrong password: %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"POST /v1/sessions 401"}, b.paths()); diff != "" {
		t.Errorf("calls to authsvc (-want +got):\n%s", diff)
	}
}

// exampleFiles lists the files under the examples folder, skipping what npm
// installs.
func exampleFiles(t *testing.T, ext string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (ext == "" || filepath.Ext(path) == ext) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestJavaScriptParses compiles every script, including the page's wiring,
// which the flow tests do not run, and checks that index.html loads scripts
// that exist.
func TestJavaScriptParses(t *testing.T) {
	t.Parallel()
	files := exampleFiles(t, ".js")
	if len(files) < len(exampleScripts) {
		t.Fatalf("found only %q", files)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := goja.Compile(f, string(src), false); err != nil {
			t.Errorf("%v", err)
		}
	}

	html, err := os.ReadFile("zim-web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	var local []string
	for _, m := range regexp.MustCompile(`<script src="([^"]+)"`).FindAllStringSubmatch(string(html), -1) {
		if src := m[1]; !strings.HasPrefix(src, "node_modules/") && !strings.Contains(src, "://") {
			local = append(local, src)
			if _, err := os.Stat(filepath.Join("zim-web", src)); err != nil {
				t.Errorf("index.html loads %s: %v", src, err)
			}
		}
	}
	for _, s := range exampleScripts {
		if !slices.Contains(local, strings.TrimPrefix(s, "zim-web/")) {
			t.Errorf("index.html does not load %s", s)
		}
	}
}

var regionMark = regexp.MustCompile(`(?m)^// README:(begin|end) (\S+)$`)

// TestREADMESnippets holds README.md to the examples: every js block in it
// must appear, verbatim, in an example's code (a .js or .html file under
// examples/, outside testdata). The README shows the regions marked
// "// README:begin NAME" ... "// README:end NAME", which must pair up and
// have unique names.
func TestREADMESnippets(t *testing.T) {
	t.Parallel()
	var corpus []string
	seen := map[string]string{}
	for _, f := range exampleFiles(t, "") {
		// Only the examples' own code counts: not the fakes, tests or docs.
		if ext := filepath.Ext(f); ext != ".js" && ext != ".html" || strings.HasPrefix(f, "testdata"+string(filepath.Separator)) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		corpus = append(corpus, string(b))
		open := ""
		for _, m := range regionMark.FindAllStringSubmatch(string(b), -1) {
			switch kind, name := m[1], m[2]; {
			case kind == "begin" && open == "":
				if other, dup := seen[name]; dup {
					t.Errorf("%s: README region %q is also in %s", f, name, other)
				}
				seen[name], open = f, name
			case kind == "end" && open == name:
				open = ""
			default:
				t.Errorf("%s: README:%s %s out of place (open region: %q)", f, kind, name, open)
			}
		}
		if open != "" {
			t.Errorf("%s: README region %q is not closed", f, open)
		}
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := jsBlocks(string(readme))
	for i, block := range blocks {
		found := false
		for _, c := range corpus {
			if strings.Contains(c, block) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("README.md js block %d is not code from examples/ (copy it from a README:begin region):\n%s", i+1, block)
		}
	}
	t.Logf("README.md has %d js blocks; examples/ has regions %v", len(blocks), slices.Sorted(maps.Keys(seen)))
}

var fenceOpen = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})[ \t]*([^ \t`]*)")

// jsBlocks returns the contents of the fenced js or javascript code blocks of
// a Markdown text, each ending with a newline.
func jsBlocks(md string) []string {
	var blocks []string
	var cur strings.Builder
	fence, isJS := "", false
	for _, line := range strings.Split(md, "\n") {
		line = strings.TrimRight(line, "\r")
		if fence == "" {
			if m := fenceOpen.FindStringSubmatch(line); m != nil {
				fence, isJS = m[1], m[2] == "js" || m[2] == "javascript"
				cur.Reset()
			}
			continue
		}
		if closing := strings.TrimSpace(line); strings.HasPrefix(closing, fence) && strings.Trim(closing, fence[:1]) == "" {
			if isJS {
				blocks = append(blocks, cur.String())
			}
			fence = ""
			continue
		}
		cur.WriteString(line + "\n")
	}
	return blocks
}

func TestJSBlocks(t *testing.T) {
	t.Parallel()
	md := "text\n```sh\necho hi\n```\n```js\nconst a = 1;\n\nfoo();\n```\n````javascript\nx```y\n````\n```\nplain\n```\n"
	want := []string{"const a = 1;\n\nfoo();\n", "x```y\n"}
	if diff := cmp.Diff(want, jsBlocks(md)); diff != "" {
		t.Errorf("jsBlocks (-want +got):\n%s", diff)
	}
}
