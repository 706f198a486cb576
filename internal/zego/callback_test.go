package zego_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"authsvc/internal/zego"
)

// TestVerifyCallbackSignatureSample is ZEGO's published example of the
// callback signature.
func TestVerifyCallbackSignatureSample(t *testing.T) {
	t.Parallel()
	const sig = "5bd59fd62953a8059fb7eaba95720f66d19e4517"
	tests := []struct {
		secret, ts, nonce, sig string
		want                   bool
	}{
		{"secret", "1470820198", "123412", sig, true},
		{"secret", "1470820198", "123412", strings.ToUpper(sig), true},
		{"secret", "1470820199", "123412", sig, false},
		{"secret", "1470820198", "123413", sig, false},
		{"Secret", "1470820198", "123412", sig, false},
		{"", "1470820198", "123412", sig, false},
		{"secret", "1470820198", "123412", sig[:38], false},
		{"secret", "1470820198", "123412", sig + "00", false},
		{"secret", "1470820198", "123412", "zz" + sig[2:], false},
		{"secret", "1470820198", "123412", "", false},
	}
	for _, tt := range tests {
		if got := zego.VerifyCallbackSignature(tt.secret, tt.ts, tt.nonce, tt.sig); got != tt.want {
			t.Errorf("VerifyCallbackSignature(%q, %q, %q, %q) = %v, want %v", tt.secret, tt.ts, tt.nonce, tt.sig, got, tt.want)
		}
	}
}

// sign computes a callback signature the way the docs spell it out, for
// bodies the tests make up.
func sign(secret, ts, nonce string) string {
	parts := []string{secret, ts, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(parts[0] + parts[1] + parts[2]))
	return hex.EncodeToString(sum[:])
}

func TestDecodeCallbackBeforeSendMsg(t *testing.T) {
	t.Parallel()
	body := `{"appid":"1","event":"before_send_msg","from_user_id":"sender","conv_id":"receiver",
		"request_id":"3501907290370176","msg_id":"1234232421343","conv_type":0,"timestamp":1499676968,
		"msg_body":"msg_body","msg_type":1,"signature":"` + sign("cbsecret", "1499676968", "321") + `",
		"nonce":"321","sub_msg_type":0,"payload":"payload"}`
	got, err := zego.DecodeCallback([]byte(body))
	if err != nil {
		t.Fatalf("DecodeCallback(docs example) error = %v", err)
	}
	want := zego.Callback{
		AppID: "1", Event: zego.EventBeforeSendMsg, Nonce: "321", Timestamp: 1499676968,
		Signature: sign("cbsecret", "1499676968", "321"), RequestID: "3501907290370176",
		BeforeSendMsg: &zego.BeforeSendMsg{FromUserID: "sender", ConvID: "receiver", ConvType: 0,
			MsgID: "1234232421343", MsgType: 1, MsgBody: "msg_body", Payload: "payload"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(zego.Callback{})); diff != "" {
		t.Errorf("DecodeCallback(docs example) mismatch (-want +got):\n%s", diff)
	}
	if !got.VerifySignature("cbsecret") {
		t.Errorf("VerifySignature(right secret) = false, want true")
	}
	if got.VerifySignature("other") {
		t.Errorf("VerifySignature(wrong secret) = true, want false")
	}
}

// TestDecodeCallbackTolerance covers what ZEGO's docs leave loose: numbers
// where strings are documented, integers as strings, a URL-encoded body.
func TestDecodeCallbackTolerance(t *testing.T) {
	t.Parallel()
	t.Run("numeric nonce and appid", func(t *testing.T) {
		c, err := zego.DecodeCallback([]byte(`{"appid":1,"event":"x","nonce":123412,"timestamp":1470820198,"signature":"5bd59fd62953a8059fb7eaba95720f66d19e4517"}`))
		if err != nil {
			t.Fatal(err)
		}
		if c.AppID != "1" || c.Nonce != "123412" || !c.VerifySignature("secret") {
			t.Errorf("DecodeCallback = %+v (verifies: %v), want appid 1, nonce 123412, a valid signature", c, c.VerifySignature("secret"))
		}
	})
	t.Run("url-encoded body", func(t *testing.T) {
		raw := `{"appid":"1","event":"before_send_msg","nonce":"9","timestamp":"10","signature":"s","from_user_id":"a b+c","msg_type":"11","msg_body":"%7B%22k%22%3A1%7D"}`
		c, err := zego.DecodeCallback([]byte(url.QueryEscape(raw)))
		if err != nil {
			t.Fatal(err)
		}
		m := c.BeforeSendMsg
		if m == nil || m.FromUserID != "a b+c" || m.MsgType != 11 || c.Timestamp != 10 || m.DecodedMsgBody() != `{"k":1}` {
			t.Errorf("DecodeCallback(URL-encoded) = %+v, %+v", c, m)
		}
	})
	t.Run("user_action with string numbers", func(t *testing.T) {
		c, err := zego.DecodeCallback([]byte(`{"appid":"1","event":"user_action","nonce":"9","timestamp":10,"signature":"s",
			"user_id":"u1","user_name":"Ann","os":"3","action":"1","session_id":"dev1","relogin":"1",
			"login_time":"1700000000000","logout_time":1700000100000,"logout_reason":"0"}`))
		if err != nil {
			t.Fatal(err)
		}
		want := &zego.UserAction{UserID: "u1", UserName: "Ann", OS: "3", Action: zego.UserLogout, SessionID: "dev1",
			Relogin: true, LoginTime: 1700000000000, LogoutTime: 1700000100000, LogoutReason: "0"}
		if diff := cmp.Diff(want, c.UserAction); diff != "" {
			t.Errorf("DecodeCallback(user_action) mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("unknown event", func(t *testing.T) {
		c, err := zego.DecodeCallback([]byte(`{"appid":"1","event":"room_created","nonce":"9","timestamp":10,"signature":"s","room_id":"r1"}`))
		if err != nil {
			t.Fatal(err)
		}
		if c.BeforeSendMsg != nil || c.UserAction != nil || len(c.Fields) != 1 || string(c.Fields["room_id"]) != `"r1"` {
			t.Errorf("DecodeCallback(room_created) = %+v, want only Fields {room_id: \"r1\"}", c)
		}
	})
}

func TestDecodeCallbackRefuses(t *testing.T) {
	t.Parallel()
	const common = `"appid":"1","nonce":"9","timestamp":10,"signature":"s"`
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"array", `[]`},
		{"string", `"x"`},
		{"truncated", `{"appid":"1"`},
		{"no event", `{` + common + `}`},
		{"empty event", `{"event":"",` + common + `}`},
		{"no signature", `{"appid":"1","nonce":"9","timestamp":10,"event":"x"}`},
		{"no timestamp", `{"appid":"1","nonce":"9","signature":"s","event":"x"}`},
		{"fraction timestamp", `{"appid":"1","nonce":"9","timestamp":1.5,"signature":"s","event":"x"}`},
		{"negative timestamp", `{"appid":"1","nonce":"9","timestamp":-1,"signature":"s","event":"x"}`},
		{"word timestamp", `{"appid":"1","nonce":"9","timestamp":"soon","signature":"s","event":"x"}`},
		{"bool appid", `{"appid":true,"nonce":"9","timestamp":10,"signature":"s","event":"x"}`},
		{"object nonce", `{"appid":"1","nonce":{},"timestamp":10,"signature":"s","event":"x"}`},
		{"numeric event", `{"event":7,` + common + `}`},
		{"no sender", `{"event":"before_send_msg",` + common + `}`},
		{"word conv_type", `{"event":"before_send_msg","from_user_id":"a","conv_type":"group",` + common + `}`},
		{"numeric sender", `{"event":"before_send_msg","from_user_id":12,` + common + `}`},
		{"no action", `{"event":"user_action","user_id":"a",` + common + `}`},
		{"bad relogin", `{"event":"user_action","user_id":"a","action":0,"relogin":"yes",` + common + `}`},
		{"too large", `{"event":"x",` + common + `,"pad":"` + strings.Repeat("a", zego.MaxCallbackBytes) + `"}`},
		{"bad url-encoding", `%7B%zz`},
	}
	for _, tt := range tests {
		if _, err := zego.DecodeCallback([]byte(tt.body)); !errors.Is(err, zego.ErrMalformedCallback) {
			t.Errorf("%s: DecodeCallback error = %v, want ErrMalformedCallback", tt.name, err)
		}
	}
}

func FuzzDecodeCallback(f *testing.F) {
	for _, s := range []string{
		`{"appid":"1","event":"before_send_msg","from_user_id":"sender","conv_id":"receiver","request_id":"3501907290370176","msg_id":"1234232421343","conv_type":0,"timestamp":1499676968,"msg_body":"msg_body","msg_type":1,"signature":"abc","nonce":"321","sub_msg_type":0,"payload":"payload"}`,
		`{"appid":"1","event":"user_action","nonce":"9","timestamp":10,"signature":"s","user_id":"u1","action":2,"relogin":"0"}`,
		`{"appid":1,"event":"x","nonce":123412,"timestamp":"1470820198","signature":"s","k":[1,{"a":null}]}`,
		`%7B%22appid%22%3A%221%22%7D`, `{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := zego.DecodeCallback(body)
		if err != nil {
			if !errors.Is(err, zego.ErrMalformedCallback) {
				t.Fatalf("DecodeCallback error %v does not wrap ErrMalformedCallback", err)
			}
			return
		}
		set := 0
		for _, ok := range []bool{c.BeforeSendMsg != nil, c.UserAction != nil, c.Fields != nil} {
			if ok {
				set++
			}
		}
		if set != 1 || c.Event == "" || c.AppID == "" || c.Nonce == "" || c.Signature == "" || c.Timestamp < 0 {
			t.Fatalf("DecodeCallback(%q) = %+v: want the common fields and exactly one event value", body, c)
		}
		if (c.Event == zego.EventBeforeSendMsg) != (c.BeforeSendMsg != nil) || (c.Event == zego.EventUserAction) != (c.UserAction != nil) {
			t.Fatalf("DecodeCallback(%q): event %q decoded as the wrong type", body, c.Event)
		}
		c.VerifySignature("secret") // must not panic on any decoded value
	})
}

func TestEncodeBeforeSendMsgAnswer(t *testing.T) {
	t.Parallel()
	got, err := zego.EncodeBeforeSendMsgAnswer(zego.BeforeSendMsgAnswer{Result: zego.ResultBlock, Reason: "user disabled"})
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"result": 3.0, "reason": "user disabled"}, back); diff != "" {
		t.Errorf("EncodeBeforeSendMsgAnswer(block) = %s, mismatch (-want +got):\n%s", got, diff)
	}
	for _, r := range []int{-1, 4} {
		if _, err := zego.EncodeBeforeSendMsgAnswer(zego.BeforeSendMsgAnswer{Result: r}); err == nil {
			t.Errorf("EncodeBeforeSendMsgAnswer(result %d) error = nil, want an error", r)
		}
	}
}
