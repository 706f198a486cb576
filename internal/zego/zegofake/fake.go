// Package zegofake is a fake of ZEGO's server API for tests: the ZIM user
// actions UserRegister and ModifyUserInfo and RTC's KickoutUser, checked and
// answered the way ZEGO documents them, with the users kept in memory.
//
// It shares no code with package zego on purpose. Its signature check, its
// limits and its codes are written again from ZEGO's documents, so a mistake
// in the client shows up as a refused call rather than being agreed with.
//
// Beyond the happy path it answers the documented errors (signature expired
// or wrong, user exists, not registered, name, avatar, ID or extra data too
// long), limits each ZIM action to Options.Rate calls in any second
// (660700001 for UserRegister, 660300005 for ModifyUserInfo), reports
// partial failures in ErrorList, and injects faults: the next calls answer a
// 5xx, or hang until the client gives up, or a user fails for good. Every
// call that arrives is recorded in order, with what the fake answered.
//
// Start serves the fake over a real socket with httptest. Inside a
// testing/synctest bubble a socket stalls the fake clock, so use
// Fake.HTTPClient there, which serves the fake in memory.
package zegofake

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The codes the fake answers, as ZEGO documents them.
const (
	CodeOK                = 0
	CodeSignatureExpired  = 100000004
	CodeSignatureWrong    = 100000005
	CodeInvalidParameter  = 660000002
	CodeUserIDTooLong     = 660000012
	CodeAppRateLimited    = 660300005
	CodeRateLimited       = 660700001
	CodeUserExists        = 660700002
	CodeUserNameTooLong   = 660700006
	CodeUserAvatarTooLong = 660700007
	CodeUserNotRegistered = 660700012
)

// ZEGO's documented limits.
const (
	maxUserID      = 32
	maxUserName    = 256
	maxUserAvatar  = 500
	maxBatch       = 100
	maxKickout     = 5
	maxReason      = 256
	timestampSkew  = 10 * time.Minute
	maxRequestBody = 1 << 20
)

// Options configure a Fake.
type Options struct {
	AppID        uint32
	ServerSecret string
	// Now is ZEGO's clock for the timestamp window; time.Now when nil.
	Now func() time.Time
	// ExtraLimit is the most bytes of a user's Extra, 2048 when 0.
	ExtraLimit int
	// Rate is the most calls of each ZIM action in any second, 20 when 0.
	// The window runs on the time package, which testing/synctest fakes.
	Rate int
}

// User is a ZIM user as the fake keeps it.
type User struct {
	ID, Name, Avatar, Extra string
}

// Call is one request the fake received.
type Call struct {
	Action string
	Method string
	// Users are the users of a UserRegister or ModifyUserInfo, as sent, in
	// the order sent.
	Users []User
	// RoomID, UserIDs and Reason are KickoutUser's parameters.
	RoomID  string
	UserIDs []string
	Reason  string
	// Status and Code are what the fake answered; Failed maps each refused
	// user to its SubCode. Fault names an injected fault ("5xx", "hang").
	Status int
	Code   int
	Failed map[string]int
	Fault  string
}

// Applied reports whether the call changed the fake's users for userID.
func (c Call) Applied(userID string) bool {
	if c.Status != http.StatusOK || (c.Code != CodeOK && len(c.Failed) == 0) {
		return false
	}
	if _, failed := c.Failed[userID]; failed {
		return false
	}
	for _, u := range c.Users {
		if u.ID == userID {
			return true
		}
	}
	return false
}

// Fake is the fake ZEGO server API; it is an http.Handler.
type Fake struct {
	opts   Options
	closed chan struct{}
	once   sync.Once

	mu        sync.Mutex
	users     map[string]User
	calls     []Call
	failNext  int
	failCode  int
	hangNext  int
	failUsers map[string]int
	windows   map[string][]time.Time // action -> start times of the last Rate accepted calls
	requestID int
}

// New returns a Fake for one app; serve it yourself or use Start.
func New(opts Options) *Fake {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ExtraLimit == 0 {
		opts.ExtraLimit = 2048
	}
	if opts.Rate == 0 {
		opts.Rate = 20
	}
	return &Fake{
		opts:      opts,
		closed:    make(chan struct{}),
		users:     map[string]User{},
		failUsers: map[string]int{},
		windows:   map[string][]time.Time{},
	}
}

// Start serves a new Fake with httptest until the test ends and returns it
// with the server's base URL.
func Start(tb testing.TB, opts Options) (*Fake, string) {
	tb.Helper()
	f := New(opts)
	srv := httptest.NewServer(f)
	tb.Cleanup(func() {
		f.Close()
		srv.Close()
	})
	return f, srv.URL
}

// Close releases calls hanging on an injected fault.
func (f *Fake) Close() { f.once.Do(func() { close(f.closed) }) }

// FailNext makes the next n calls answer HTTP status (a 5xx, say) without
// touching any user.
func (f *Fake) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext, f.failCode = n, status
}

// HangNext makes the next n calls answer nothing until the client gives up
// (or the fake is closed).
func (f *Fake) HangNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hangNext = n
}

// FailUser makes every register or modify of userID fail with code until
// HealUser.
func (f *Fake) FailUser(userID string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failUsers[userID] = code
}

// HealUser ends FailUser for userID.
func (f *Fake) HealUser(userID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.failUsers, userID)
}

// PutUser registers a user directly, as if registered earlier.
func (f *Fake) PutUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
}

// User returns the registered user userID.
func (f *Fake) User(userID string) (User, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[userID]
	return u, ok
}

// Users returns a copy of the registered users by ID.
func (f *Fake) Users() map[string]User {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]User, len(f.users))
	for k, v := range f.users {
		m[k] = v
	}
	return m
}

// Calls returns the calls received so far, in the order the fake handled
// them, which is the order their effects took place.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Call, len(f.calls))
	copy(out, f.calls)
	return out
}

// HTTPClient returns a client that serves requests with the fake in memory,
// for tests inside a testing/synctest bubble; timeout is its Timeout.
func (f *Fake) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: inMemory{f}}
}

type inMemory struct{ h http.Handler }

func (t inMemory) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = req.URL.RequestURI()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.h.ServeHTTP(rec, r)
	}()
	select {
	case <-done:
		return rec.Result(), nil
	case <-req.Context().Done():
		<-done // the handler watches the same context
		return nil, req.Context().Err()
	}
}

// answer is ZEGO's response body.
type answer struct {
	Code      int         `json:"Code"`
	Message   string      `json:"Message"`
	RequestID string      `json:"RequestId"`
	ErrorList []errorItem `json:"ErrorList,omitempty"`
}

type errorItem struct {
	UserID     string `json:"UserId"`
	SubCode    int    `json:"SubCode"`
	SubMessage string `json:"SubMessage"`
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	call := Call{Action: q.Get("Action"), Method: r.Method, Status: http.StatusOK}

	f.mu.Lock()
	switch {
	case f.hangNext > 0:
		f.hangNext--
		call.Fault, call.Status = "hang", 0
		f.calls = append(f.calls, call)
		f.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-f.closed:
		}
		return
	case f.failNext > 0:
		f.failNext--
		call.Fault, call.Status = "5xx", f.failCode
		f.calls = append(f.calls, call)
		f.mu.Unlock()
		http.Error(w, "injected failure", call.Status)
		return
	}
	defer f.mu.Unlock()
	ans := f.handle(r, q, &call)
	f.requestID++
	ans.RequestID = strconv.Itoa(f.requestID)
	call.Code = ans.Code
	if len(ans.ErrorList) > 0 {
		call.Failed = map[string]int{}
		for _, it := range ans.ErrorList {
			call.Failed[it.UserID] = it.SubCode
		}
	}
	f.calls = append(f.calls, call)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ans)
}

// handle checks and carries out one call with f.mu held.
func (f *Fake) handle(r *http.Request, q map[string][]string, call *Call) answer {
	get := func(k string) string {
		if v := q[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	for _, k := range []string{"Action", "AppId", "SignatureNonce", "Timestamp", "Signature"} {
		if get(k) == "" {
			return answer{Code: CodeInvalidParameter, Message: "missing " + k}
		}
	}
	if get("SignatureVersion") != "2.0" {
		return answer{Code: CodeInvalidParameter, Message: "SignatureVersion must be 2.0"}
	}
	nonce := get("SignatureNonce")
	if len(nonce) != 16 || !isHex(nonce) {
		return answer{Code: CodeInvalidParameter, Message: "SignatureNonce must be 16 hex characters"}
	}
	ts, err := strconv.ParseInt(get("Timestamp"), 10, 64)
	if err != nil {
		return answer{Code: CodeInvalidParameter, Message: "Timestamp"}
	}
	if get("AppId") != strconv.FormatUint(uint64(f.opts.AppID), 10) ||
		get("Signature") != Sign(f.opts.AppID, nonce, f.opts.ServerSecret, ts) {
		return answer{Code: CodeSignatureWrong, Message: "signature wrong"}
	}
	now := f.opts.Now()
	if d := now.Sub(time.Unix(ts, 0)); d > timestampSkew || d < -timestampSkew {
		return answer{Code: CodeSignatureExpired, Message: "signature expired"}
	}

	switch call.Action {
	case "UserRegister", "ModifyUserInfo":
		if r.Method != http.MethodPost {
			return answer{Code: CodeInvalidParameter, Message: "POST only"}
		}
		if !f.admit(call.Action) {
			code := CodeRateLimited
			if call.Action == "ModifyUserInfo" {
				code = CodeAppRateLimited
			}
			return answer{Code: code, Message: "too many requests"}
		}
		return f.handleUsers(r, call)
	case "KickoutUser":
		if r.Method != http.MethodGet {
			return answer{Code: CodeInvalidParameter, Message: "GET only"}
		}
		call.RoomID = get("RoomId")
		call.UserIDs = q["UserId[]"]
		call.Reason = get("CustomReason")
		switch {
		case call.RoomID == "":
			return answer{Code: CodeInvalidParameter, Message: "RoomId"}
		case len(call.UserIDs) == 0 || len(call.UserIDs) > maxKickout:
			return answer{Code: 50011, Message: "user count"}
		case len(call.Reason) > maxReason:
			return answer{Code: CodeInvalidParameter, Message: "CustomReason"}
		}
		return answer{Code: CodeOK, Message: "success"}
	}
	return answer{Code: CodeInvalidParameter, Message: "unknown Action"}
}

// admit counts a call of action against its window of one second.
func (f *Fake) admit(action string) bool {
	now := time.Now()
	win := f.windows[action]
	for len(win) > 0 && now.Sub(win[0]) >= time.Second {
		win = win[1:]
	}
	if len(win) >= f.opts.Rate {
		f.windows[action] = win
		return false
	}
	f.windows[action] = append(win, now)
	return true
}

// SetRate changes the most calls of each ZIM action in any second, as
// Options.Rate: a ZEGO that slows down, or recovers.
func (f *Fake) SetRate(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opts.Rate = n
}

// handleUsers carries out UserRegister or ModifyUserInfo.
func (f *Fake) handleUsers(r *http.Request, call *Call) answer {
	var body struct {
		UserInfo []struct {
			UserID     *string `json:"UserId"`
			UserName   *string `json:"UserName"`
			UserAvatar *string `json:"UserAvatar"`
			Extra      *string `json:"Extra"`
		} `json:"UserInfo"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(data) > maxRequestBody || json.Unmarshal(data, &body) != nil {
		return answer{Code: CodeInvalidParameter, Message: "body"}
	}
	if n := len(body.UserInfo); n == 0 || n > maxBatch {
		return answer{Code: CodeInvalidParameter, Message: fmt.Sprintf("%d users", n)}
	}
	register := call.Action == "UserRegister"
	var failed []errorItem
	fail := func(id string, code int, msg string) { failed = append(failed, errorItem{id, code, msg}) }
	for _, it := range body.UserInfo {
		in := User{ID: deref(it.UserID), Name: deref(it.UserName), Avatar: deref(it.UserAvatar), Extra: deref(it.Extra)}
		call.Users = append(call.Users, in)
		old, exists := f.users[in.ID]
		switch {
		case in.ID == "":
			fail(in.ID, CodeInvalidParameter, "UserId missing")
		case len(in.ID) > maxUserID:
			fail(in.ID, CodeUserIDTooLong, "user length limit")
		case f.failUsers[in.ID] != 0:
			fail(in.ID, f.failUsers[in.ID], "injected failure")
		case len(in.Name) > maxUserName:
			fail(in.ID, CodeUserNameTooLong, "user name too long")
		case len(in.Avatar) > maxUserAvatar:
			fail(in.ID, CodeUserAvatarTooLong, "user avatar too long")
		case register && exists:
			fail(in.ID, CodeUserExists, "user already exists")
		case !register && !exists:
			fail(in.ID, CodeUserNotRegistered, "user not registered")
		case !register && len(in.Extra) > f.opts.ExtraLimit:
			fail(in.ID, CodeInvalidParameter, "extra too long")
		case register:
			f.users[in.ID] = User{ID: in.ID, Name: in.Name, Avatar: in.Avatar}
		default:
			// A field left out of ModifyUserInfo keeps its value.
			if it.UserName != nil {
				old.Name = in.Name
			}
			if it.UserAvatar != nil {
				old.Avatar = in.Avatar
			}
			if it.Extra != nil {
				old.Extra = in.Extra
			}
			f.users[in.ID] = old
		}
	}
	if len(failed) == len(body.UserInfo) {
		// ZEGO: a non-zero Code with an ErrorList means every user failed.
		return answer{Code: failed[0].SubCode, Message: "all users failed", ErrorList: failed}
	}
	return answer{Code: CodeOK, Message: "success", ErrorList: failed}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Sign is ZEGO's server API signature, written from the spec: the hex MD5
// of AppId, SignatureNonce, ServerSecret and Timestamp in that order.
func Sign(appID uint32, nonce, secret string, timestamp int64) string {
	return fmt.Sprintf("%x", md5.Sum([]byte(fmt.Sprintf("%d%s%s%d", appID, nonce, secret, timestamp))))
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
