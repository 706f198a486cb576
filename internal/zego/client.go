package zego

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults and limits of ZEGO's server API.
const (
	DefaultZIMURL = "https://zim-api.zego.im"
	DefaultRTCURL = "https://rtc-api.zego.im"
	// DefaultRate is ZEGO's documented limit per action and app.
	DefaultRate = 20
	// MaxResponseBytes bounds how much of an answer the client reads; ZEGO's
	// largest documented answer, an ErrorList of 100 users, is a few KiB.
	MaxResponseBytes = 1 << 20
	// MaxBatch is the most users one UserRegister or ModifyUserInfo takes.
	MaxBatch = 100
	// MaxKickoutUsers is the most users one KickoutUser removes.
	MaxKickoutUsers = 5
	// MaxCustomReasonBytes bounds KickoutUser's reason.
	MaxCustomReasonBytes = 256
	// rateLimitHold is how long an action pauses after ZEGO said it is over
	// its rate: the limit counts calls per second.
	rateLimitHold = time.Second
	// maxMessageBytes bounds a Message or SubMessage kept from an answer,
	// since errors end up in logs.
	maxMessageBytes = 512
)

// Action names a server API operation, as ZEGO's Action query parameter.
type Action string

// The actions the client calls.
const (
	ActionUserRegister   Action = "UserRegister"   // ZIM, POST
	ActionModifyUserInfo Action = "ModifyUserInfo" // ZIM, POST
	ActionKickoutUser    Action = "KickoutUser"    // RTC, GET
)

// Config is what a Client needs. Every field but Rate is required.
type Config struct {
	AppID uint32
	// ServerSecret is the app's 32-character ServerSecret; it signs calls
	// and is never sent.
	ServerSecret string
	// ZIMURL and RTCURL are the base URLs of the products' server APIs,
	// DefaultZIMURL and DefaultRTCURL unless the app uses a regional host.
	ZIMURL string
	RTCURL string
	// HTTPClient sends the calls; its Timeout must be set, so a hung ZEGO
	// cannot hold a caller forever.
	HTTPClient *http.Client
	// Now gives the signature's timestamp, time.Now in production.
	Now func() time.Time
	// Rand gives the signature nonces, crypto/rand.Reader in production.
	Rand io.Reader
	// Rate is the most calls per second per action, DefaultRate when 0.
	Rate int
	// Shared, when set, paces each action across processes too: a call
	// paced here then takes a slot of Shared under the key
	// "<action>:<appID>", waiting as long as Shared says until one is free.
	// It must hand out at most Rate slots a second per key, evenly spaced.
	// nil paces per process only.
	Shared Slots
}

// Slots hands out call slots counted with other processes, such as a rate
// limit kept in Redis. Allow takes key's next slot when it is free, else
// reports how long until one may be. An error counts as a free slot: the
// per-process pacing still holds.
type Slots interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// String describes the config without its secret, so a Config that reaches
// a log line or an error leaks nothing.
func (c Config) String() string {
	return fmt.Sprintf("zego.Config{AppID: %d, ZIMURL: %q, RTCURL: %q, Rate: %d, ServerSecret: redacted}",
		c.AppID, c.ZIMURL, c.RTCURL, c.Rate)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Client calls ZEGO's server API for one app. It is safe for concurrent use;
// one Client per app and process shares the pacing of its calls.
type Client struct {
	appID  string
	secret string
	zim    string
	rtc    string
	http   *http.Client
	now    func() time.Time
	rand   io.Reader
	pacers map[Action]*pacer // fixed at NewClient: one per action
	shared Slots             // nil: paced per process only
}

// NewClient checks cfg in full and returns a Client for it.
func NewClient(cfg Config) (*Client, error) {
	var errs []error
	if cfg.AppID == 0 {
		errs = append(errs, errors.New("AppID is 0"))
	}
	if len(cfg.ServerSecret) != 32 {
		errs = append(errs, fmt.Errorf("ServerSecret has %d bytes, want 32", len(cfg.ServerSecret)))
	}
	zim, err := baseURL(cfg.ZIMURL)
	if err != nil {
		errs = append(errs, fmt.Errorf("ZIMURL: %w", err))
	}
	rtc, err := baseURL(cfg.RTCURL)
	if err != nil {
		errs = append(errs, fmt.Errorf("RTCURL: %w", err))
	}
	if cfg.HTTPClient == nil {
		errs = append(errs, errors.New("HTTPClient is nil"))
	} else if cfg.HTTPClient.Timeout <= 0 {
		errs = append(errs, errors.New("HTTPClient has no Timeout"))
	}
	if cfg.Now == nil {
		errs = append(errs, errors.New("Now is nil"))
	}
	if cfg.Rand == nil {
		errs = append(errs, errors.New("Rand is nil"))
	}
	rate := cfg.Rate
	if rate == 0 {
		rate = DefaultRate
	}
	if rate < 0 || rate > 1000 {
		errs = append(errs, fmt.Errorf("Rate %d is not between 1 and 1000", cfg.Rate))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("zego config: %w", err)
	}
	c := &Client{
		appID:  strconv.FormatUint(uint64(cfg.AppID), 10),
		secret: cfg.ServerSecret,
		zim:    zim,
		rtc:    rtc,
		http:   cfg.HTTPClient,
		now:    cfg.Now,
		rand:   cfg.Rand,
		pacers: map[Action]*pacer{},
		shared: cfg.Shared,
	}
	for _, a := range []Action{ActionUserRegister, ActionModifyUserInfo, ActionKickoutUser} {
		c.pacers[a] = newPacer(rate)
	}
	return c, nil
}

// baseURL checks an absolute http(s) URL without query or fragment and
// returns it with a path ending in "/", where ZEGO's actions live.
func baseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%q is not an http(s) base URL without query", s)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}

// Hold lets no call of action a start for d from now, on top of the pacing.
// A caller that got rate-limited answers in a row backs off with it.
func (c *Client) Hold(a Action, d time.Duration) {
	if p, ok := c.pacers[a]; ok {
		p.hold(d)
	}
}

// maxSlotWait bounds one wait for a shared slot before asking again, so
// that a Slots answering nonsense cannot park a call for long.
const maxSlotWait = time.Second

// sharedSlot waits until a's call may start among every process's, when
// slots are shared. It fails only when ctx ends.
func (c *Client) sharedSlot(ctx context.Context, a Action) error {
	if c.shared == nil {
		return nil
	}
	key := string(a) + ":" + c.appID
	for {
		ok, retryAfter, err := c.shared.Allow(ctx, key)
		if ok || err != nil {
			return ctx.Err()
		}
		if err := sleep(ctx, min(max(retryAfter, time.Millisecond), maxSlotWait)); err != nil {
			return err
		}
	}
}

// signature is ZEGO's signature version 2.0: the lowercase hex MD5 of the
// decimal AppId, the nonce, the ServerSecret and the decimal timestamp.
func signature(appID, nonce, secret string, timestamp int64) string {
	h := md5.New()
	io.WriteString(h, appID)
	io.WriteString(h, nonce)
	io.WriteString(h, secret)
	io.WriteString(h, strconv.FormatInt(timestamp, 10))
	return hex.EncodeToString(h.Sum(nil))
}

// Result is ZEGO's answer with Code 0.
type Result struct {
	RequestID string
	// Failed lists the users of a batch ZEGO refused; it succeeded for the
	// others.
	Failed []ItemError
}

// call signs and sends one call of action a to base, with query appended to
// the common parameters and body, when not nil, as its JSON body.
func (c *Client) call(ctx context.Context, a Action, base, method, query string, body any) (Result, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return Result{}, fmt.Errorf("zego %s: encode: %w", a, err)
		}
	}
	if err := c.pacers[a].wait(ctx); err != nil {
		return Result{}, &Error{Action: string(a), Err: err}
	}
	if err := c.sharedSlot(ctx, a); err != nil {
		return Result{}, &Error{Action: string(a), Err: err}
	}
	var raw [8]byte
	if _, err := io.ReadFull(c.rand, raw[:]); err != nil {
		return Result{}, fmt.Errorf("zego %s: nonce: %w", a, err)
	}
	nonce := hex.EncodeToString(raw[:])
	ts := c.now().Unix()
	q := url.Values{
		"Action":           {string(a)},
		"AppId":            {c.appID},
		"SignatureNonce":   {nonce},
		"Timestamp":        {strconv.FormatInt(ts, 10)},
		"SignatureVersion": {"2.0"},
		"Signature":        {signature(c.appID, nonce, c.secret, ts)},
	}.Encode()
	if query != "" {
		q += "&" + query
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"?"+q, rd)
	if err != nil {
		return Result{}, fmt.Errorf("zego %s: request: %w", a, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error names the URL, which carries the signature: keep
		// only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Result{}, &Error{Action: string(a), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return Result{}, &Error{Action: string(a), Status: resp.StatusCode, Err: err}
	}
	if len(data) > MaxResponseBytes {
		return Result{}, &Error{Action: string(a), Status: resp.StatusCode,
			Err: fmt.Errorf("%w: over %d bytes", ErrMalformedResponse, MaxResponseBytes)}
	}
	r, err := decodeResponse(data)
	switch {
	case resp.StatusCode != http.StatusOK && (err != nil || r.Code == 0):
		return Result{}, &Error{Action: string(a), Status: resp.StatusCode}
	case err != nil:
		return Result{}, &Error{Action: string(a), Status: resp.StatusCode, Err: err}
	case r.Code != 0:
		if r.Code.RateLimited() {
			c.pacers[a].hold(rateLimitHold)
		}
		status := resp.StatusCode
		if status == http.StatusOK {
			status = 0
		}
		return Result{}, &Error{Action: string(a), Status: status, Code: r.Code, Message: r.Message,
			RequestID: r.RequestID, Items: r.Items}
	}
	return Result{RequestID: r.RequestID, Failed: r.Items}, nil
}

// response is ZEGO's answer to any action.
type response struct {
	Code      Code
	Message   string
	RequestID string
	Items     []ItemError
}

// decodeResponse reads an answer strictly where ZEGO is consistent (Code
// and SubCode are integers, the texts are strings) and tolerantly where it
// is not (RequestId is a string in the docs, a number in some answers).
func decodeResponse(data []byte) (response, error) {
	var w struct {
		Code      *int64
		Message   string
		RequestID json.RawMessage `json:"RequestId"`
		ErrorList []struct {
			UserID     string `json:"UserId"`
			SubCode    int64
			SubMessage string
		}
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return response{}, fmt.Errorf("%w: %v", ErrMalformedResponse, err)
	}
	if w.Code == nil {
		return response{}, fmt.Errorf("%w: no Code", ErrMalformedResponse)
	}
	rid, ok := idText(w.RequestID)
	if !ok {
		return response{}, fmt.Errorf("%w: RequestId is neither string nor number", ErrMalformedResponse)
	}
	r := response{Code: Code(*w.Code), Message: clip(w.Message), RequestID: clip(rid)}
	for _, it := range w.ErrorList {
		r.Items = append(r.Items, ItemError{UserID: clip(it.UserID), SubCode: Code(it.SubCode), SubMessage: clip(it.SubMessage)})
	}
	return r, nil
}

// idText reads an identifier sent as a JSON string or number, as its text;
// absent or null is "".
func idText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", false
	}
	return n.String(), true
}

// clip bounds a text taken from an answer and makes it valid UTF-8.
func clip(s string) string {
	if len(s) > maxMessageBytes {
		s = s[:maxMessageBytes]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
