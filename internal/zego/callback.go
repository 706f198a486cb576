package zego

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// MaxCallbackBytes bounds a callback body. ZIM's largest callbacks carry a
// message body of up to 32 KB, URL-encoded in places; this leaves room for
// that several times over.
const MaxCallbackBytes = 256 << 10

// The callback events the package decodes into their own types.
const (
	EventBeforeSendMsg = "before_send_msg"
	EventUserAction    = "user_action"
)

// ErrMalformedCallback is returned, wrapped, for a body that is not a ZIM
// callback: too large, not a JSON object, a common field missing or of the
// wrong type, or an event's field of the wrong type.
var ErrMalformedCallback = errors.New("zego: malformed callback")

// VerifyCallbackSignature reports whether signature authenticates a ZIM
// callback: the hex SHA-1 of secret, timestamp and nonce sorted as strings
// and joined. The comparison takes the same time wherever a mismatch is.
// It says nothing of freshness or replay: the caller checks timestamp
// against its clock and remembers nonces.
func VerifyCallbackSignature(secret, timestamp, nonce, signature string) bool {
	got, err := hex.DecodeString(signature)
	if err != nil || len(got) != sha1.Size || secret == "" {
		return false
	}
	want := callbackSignature(secret, timestamp, nonce)
	return subtle.ConstantTimeCompare(got, want[:]) == 1
}

func callbackSignature(secret, timestamp, nonce string) [sha1.Size]byte {
	parts := []string{secret, timestamp, nonce}
	slices.Sort(parts)
	return sha1.Sum([]byte(strings.Join(parts, "")))
}

// Callback is a decoded ZIM callback.
type Callback struct {
	AppID     string
	Event     string
	Nonce     string
	Timestamp int64 // Unix seconds
	Signature string
	RequestID string // absent for some events

	// Exactly one of these is set: BeforeSendMsg for EventBeforeSendMsg,
	// UserAction for EventUserAction, Fields for any other event with the
	// fields beside the common ones, as sent.
	BeforeSendMsg *BeforeSendMsg
	UserAction    *UserAction
	Fields        map[string]json.RawMessage

	// timestampText and nonceText are the values as sent, which the
	// signature covers.
	timestampText, nonceText string
}

// VerifySignature reports whether the callback is signed with secret; see
// VerifyCallbackSignature.
func (c Callback) VerifySignature(secret string) bool {
	return VerifyCallbackSignature(secret, c.timestampText, c.nonceText, c.Signature)
}

// BeforeSendMsg is a message ZIM is about to deliver, waiting for the
// business server's verdict.
type BeforeSendMsg struct {
	FromUserID string
	ConvID     string
	ConvType   int // 0 one-to-one, 1 room, 2 group
	MsgID      string
	MsgType    int // 1 text, 10 multi-item, 11 image, 12 file, 13 audio, 14 video, 200 custom
	SubMsgType int // the custom type when MsgType is 200
	// MsgBody is as sent: the text of a text or custom message, URL-encoded
	// JSON for media and multi-item messages (see DecodedMsgBody).
	MsgBody string
	Payload string
}

// DecodedMsgBody returns MsgBody URL-decoded, for the message types whose
// body ZIM sends as URL-encoded JSON, and MsgBody itself for the others or
// when it does not decode.
func (m BeforeSendMsg) DecodedMsgBody() string {
	switch m.MsgType {
	case 10, 11, 12, 13, 14:
		if s, err := url.PathUnescape(m.MsgBody); err == nil {
			return s
		}
	}
	return m.MsgBody
}

// UserAction is a ZIM login, logout or disconnection.
type UserAction struct {
	UserID    string
	UserName  string
	OS        string // as sent: ZIM documents it loosely
	Action    int    // UserOnline, UserLogout or UserOffline
	SessionID string // one per device
	Relogin   bool
	// The times are as ZIM sends them, 0 when absent.
	LoginTime    int64
	LogoutTime   int64
	OfflineTime  int64
	LogoutReason string
}

// The values of UserAction.Action.
const (
	UserOnline  = 0
	UserLogout  = 1
	UserOffline = 2 // disconnected
)

// DecodeCallback reads a ZIM callback body. A body that is itself
// URL-encoded (ZEGO's docs say the data may need URL decoding) is decoded
// first. It never panics; any error wraps ErrMalformedCallback.
func DecodeCallback(body []byte) (Callback, error) {
	if len(body) > MaxCallbackBytes {
		return Callback{}, fmt.Errorf("%w: over %d bytes", ErrMalformedCallback, MaxCallbackBytes)
	}
	body = bytes.TrimSpace(body)
	if len(body) >= 3 && body[0] == '%' && strings.EqualFold(string(body[:3]), "%7B") {
		s, err := url.QueryUnescape(string(body))
		if err != nil {
			return Callback{}, fmt.Errorf("%w: URL-encoded body: %v", ErrMalformedCallback, err)
		}
		body = []byte(s)
	}
	var fields map[string]json.RawMessage
	if len(body) == 0 || body[0] != '{' {
		return Callback{}, fmt.Errorf("%w: not a JSON object", ErrMalformedCallback)
	}
	if err := json.Unmarshal(body, &fields); err != nil {
		return Callback{}, fmt.Errorf("%w: %v", ErrMalformedCallback, err)
	}
	d := fieldReader{fields: fields}
	var c Callback
	c.AppID = d.text("appid", true, true)
	c.Event = d.text("event", true, false)
	c.nonceText = d.text("nonce", true, true)
	c.Nonce = c.nonceText
	c.timestampText = d.text("timestamp", true, true)
	c.Signature = d.text("signature", true, false)
	c.RequestID = d.text("request_id", false, true)
	if d.err == nil {
		ts, err := strconv.ParseInt(c.timestampText, 10, 64)
		if err != nil || ts < 0 {
			d.fail("timestamp", "not a Unix time")
		}
		c.Timestamp = ts
	}
	if d.err != nil {
		return Callback{}, d.err
	}
	switch c.Event {
	case EventBeforeSendMsg:
		m := &BeforeSendMsg{
			FromUserID: d.text("from_user_id", true, false),
			ConvID:     d.text("conv_id", false, false),
			ConvType:   int(d.integer("conv_type", false)),
			MsgID:      d.text("msg_id", false, true),
			MsgType:    int(d.integer("msg_type", false)),
			SubMsgType: int(d.integer("sub_msg_type", false)),
			MsgBody:    d.text("msg_body", false, false),
			Payload:    d.text("payload", false, false),
		}
		c.BeforeSendMsg = m
	case EventUserAction:
		a := &UserAction{
			UserID:       d.text("user_id", true, false),
			UserName:     d.text("user_name", false, false),
			OS:           d.text("os", false, true),
			Action:       int(d.integer("action", true)),
			SessionID:    d.text("session_id", false, true),
			Relogin:      d.flag("relogin"),
			LoginTime:    d.integer("login_time", false),
			LogoutTime:   d.integer("logout_time", false),
			OfflineTime:  d.integer("offline_time", false),
			LogoutReason: d.text("logout_reason", false, true),
		}
		c.UserAction = a
	default:
		c.Fields = map[string]json.RawMessage{}
		for k, v := range fields {
			switch k {
			case "appid", "event", "nonce", "timestamp", "signature", "request_id":
			default:
				c.Fields[k] = v
			}
		}
	}
	if d.err != nil {
		return Callback{}, d.err
	}
	return c, nil
}

// fieldReader takes typed values out of a callback's fields and keeps the
// first failure.
type fieldReader struct {
	fields map[string]json.RawMessage
	err    error
}

func (d *fieldReader) fail(name, why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s %s", ErrMalformedCallback, name, why)
	}
}

// raw returns a field's value, nil when absent or null.
func (d *fieldReader) raw(name string, required bool) json.RawMessage {
	v := d.fields[name]
	if len(v) == 0 || string(v) == "null" {
		if required {
			d.fail(name, "missing")
		}
		return nil
	}
	return v
}

// text reads a string; with number, a JSON integer is taken as its digits,
// for fields ZEGO documents as strings of digits and may send as numbers.
// A required text must not be empty.
func (d *fieldReader) text(name string, required, number bool) string {
	v := d.raw(name, required)
	if v == nil {
		return ""
	}
	var s string
	switch {
	case v[0] == '"':
		if err := json.Unmarshal(v, &s); err != nil {
			d.fail(name, "is not a string")
			return ""
		}
	case number && isInteger(v):
		s = string(v)
	default:
		d.fail(name, "is not a string")
		return ""
	}
	if required && s == "" {
		d.fail(name, "is empty")
	}
	return s
}

// integer reads a JSON integer, or a string of one, which ZIM sends for
// some fields.
func (d *fieldReader) integer(name string, required bool) int64 {
	v := d.raw(name, required)
	if v == nil {
		return 0
	}
	text := string(v)
	if v[0] == '"' {
		if err := json.Unmarshal(v, &text); err != nil {
			d.fail(name, "is not an integer")
			return 0
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || (v[0] != '"' && !isInteger(v)) {
		d.fail(name, "is not an integer")
		return 0
	}
	return n
}

// flag reads "0"/"1", 0/1 or false/true.
func (d *fieldReader) flag(name string) bool {
	v := d.raw(name, false)
	switch string(v) {
	case "", `"0"`, "0", "false":
		return false
	case `"1"`, "1", "true":
		return true
	}
	d.fail(name, "is not 0 or 1")
	return false
}

// isInteger reports whether a JSON value is an integer literal.
func isInteger(v json.RawMessage) bool {
	s := string(v)
	s = strings.TrimPrefix(s, "-")
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// The verdicts of a before_send_msg answer.
const (
	ResultNeutral = 0 // ZIM decides, and sends
	ResultSend    = 1
	ResultSilent  = 2 // reported sent, delivered to no one
	ResultBlock   = 3 // not sent; the sender's SDK gets the reason
)

// BeforeSendMsgAnswer is the business server's verdict on a message.
type BeforeSendMsgAnswer struct {
	Result int    `json:"result"`
	Reason string `json:"reason"`
}

// EncodeBeforeSendMsgAnswer returns the JSON answer to a before_send_msg
// callback, {"result":N,"reason":"..."}.
func EncodeBeforeSendMsgAnswer(a BeforeSendMsgAnswer) ([]byte, error) {
	if a.Result < ResultNeutral || a.Result > ResultBlock {
		return nil, fmt.Errorf("zego: before_send_msg result %d is not 0 to 3", a.Result)
	}
	return json.Marshal(a)
}
