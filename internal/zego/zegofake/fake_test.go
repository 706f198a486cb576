package zegofake_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"authsvc/internal/zego/zegofake"
)

// TestSignSample is ZEGO's published example of the server API signature.
func TestSignSample(t *testing.T) {
	t.Parallel()
	got := zegofake.Sign(12345, "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", 1615186943)
	if want := "43e5cfcca828314675f91b001390566a"; got != want {
		t.Errorf("Sign(sample) = %s, want %s", got, want)
	}
}

const secret = "9193cc662a4c0ec135ec71fb57194b38"

var now = time.Unix(1_800_000_000, 0)

// send makes a request by hand, so the fake is tested without the client.
func send(tb testing.TB, c *http.Client, base, method string, q url.Values, body string) (code int, raw map[string]any) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, base+"/?"+q.Encode(), rd)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		tb.Fatalf("answer is not JSON: %v", err)
	}
	return int(raw["Code"].(float64)), raw
}

func signed(action, nonce string, ts int64) url.Values {
	return url.Values{
		"Action": {action}, "AppId": {"12345"}, "SignatureNonce": {nonce}, "Timestamp": {fmt.Sprint(ts)},
		"SignatureVersion": {"2.0"}, "Signature": {zegofake.Sign(12345, nonce, secret, ts)},
	}
}

func TestFakeChecksRequests(t *testing.T) {
	t.Parallel()
	fake, base := zegofake.Start(t, zegofake.Options{AppID: 12345, ServerSecret: secret, Now: func() time.Time { return now }})
	c := http.DefaultClient
	reg := `{"UserInfo":[{"UserId":"a","UserName":"A","UserAvatar":""}]}`
	tests := []struct {
		name   string
		method string
		q      url.Values
		want   int
	}{
		{"published sample timestamp, long expired", "POST", signed("UserRegister", "4fd24687296dd9f3", 1615186943), zegofake.CodeSignatureExpired},
		{"10 minutes late is fine", "POST", signed("UserRegister", "0000000000000001", now.Unix()-600), zegofake.CodeOK},
		{"10 minutes and a second late", "POST", signed("UserRegister", "0000000000000002", now.Unix()-601), zegofake.CodeSignatureExpired},
		{"10 minutes and a second early", "POST", signed("UserRegister", "0000000000000003", now.Unix()+601), zegofake.CodeSignatureExpired},
		{"short nonce", "POST", signed("UserRegister", "abc", now.Unix()), zegofake.CodeInvalidParameter},
		{"GET for a POST action", "GET", signed("UserRegister", "0000000000000004", now.Unix()), zegofake.CodeInvalidParameter},
		{"unknown action", "POST", signed("DeleteUser", "0000000000000005", now.Unix()), zegofake.CodeInvalidParameter},
	}
	for _, tt := range tests {
		if code, _ := send(t, c, base, tt.method, tt.q, reg); code != tt.want {
			t.Errorf("%s: Code = %d, want %d", tt.name, code, tt.want)
		}
	}
	q := signed("UserRegister", "0000000000000006", now.Unix())
	q.Set("Signature", strings.Repeat("0", 32))
	if code, _ := send(t, c, base, "POST", q, reg); code != zegofake.CodeSignatureWrong {
		t.Errorf("forged signature: Code = %d, want %d", code, zegofake.CodeSignatureWrong)
	}
	q = signed("UserRegister", "0000000000000007", now.Unix())
	q.Del("SignatureVersion")
	if code, _ := send(t, c, base, "POST", q, reg); code != zegofake.CodeInvalidParameter {
		t.Errorf("no SignatureVersion: Code = %d, want %d", code, zegofake.CodeInvalidParameter)
	}
	if code, _ := send(t, c, base, "POST", signed("UserRegister", "0000000000000008", now.Unix()), `{"UserInfo":[]}`); code != zegofake.CodeInvalidParameter {
		t.Errorf("empty batch: Code = %d, want %d", code, zegofake.CodeInvalidParameter)
	}
	// Only the one accepted register changed anything.
	if users := fake.Users(); len(users) != 1 || users["a"].Name != "A" {
		t.Errorf("fake users = %v, want only a", users)
	}
	if n := len(fake.Calls()); n != len(tests)+3 {
		t.Errorf("fake recorded %d calls, want %d", n, len(tests)+3)
	}
}

// TestFakeRateLimit: in any second the fake takes 20 calls of an action;
// the 21st is refused with the action's code, other actions are counted
// apart, and a second later it takes calls again.
func TestFakeRateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := zegofake.New(zegofake.Options{AppID: 12345, ServerSecret: secret})
		c := fake.HTTPClient(time.Second)
		nonce := 0
		call := func(action, body string) int {
			nonce++
			code, _ := send(t, c, "http://zego.test", "POST", signed(action, fmt.Sprintf("%016x", nonce), time.Now().Unix()), body)
			return code
		}
		for i := range 20 {
			if code := call("UserRegister", fmt.Sprintf(`{"UserInfo":[{"UserId":"u%d"}]}`, i)); code != 0 {
				t.Fatalf("register %d: Code = %d, want 0", i, code)
			}
		}
		if code := call("UserRegister", `{"UserInfo":[{"UserId":"x"}]}`); code != zegofake.CodeRateLimited {
			t.Errorf("21st register: Code = %d, want %d", code, zegofake.CodeRateLimited)
		}
		for range 20 {
			if code := call("ModifyUserInfo", `{"UserInfo":[{"UserId":"u1","UserName":"n"}]}`); code != 0 {
				t.Fatalf("modify: Code = %d, want 0", code)
			}
		}
		if code := call("ModifyUserInfo", `{"UserInfo":[{"UserId":"u1"}]}`); code != zegofake.CodeAppRateLimited {
			t.Errorf("21st modify: Code = %d, want %d", code, zegofake.CodeAppRateLimited)
		}
		time.Sleep(time.Second)
		if code := call("UserRegister", `{"UserInfo":[{"UserId":"x"}]}`); code != 0 {
			t.Errorf("register a second later: Code = %d, want 0", code)
		}
	})
}

// TestFakeHangReleasedByClose: a hanging call ends when the fake closes, so
// a test's cleanup never waits on it.
func TestFakeHangReleasedByClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := zegofake.New(zegofake.Options{AppID: 12345, ServerSecret: secret})
		fake.HangNext(1)
		c := fake.HTTPClient(time.Hour)
		done := make(chan error)
		go func() {
			req, _ := http.NewRequest("POST", "http://zego.test/?Action=UserRegister", strings.NewReader("{}"))
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		synctest.Wait()
		fake.Close()
		<-done
		if calls := fake.Calls(); len(calls) != 1 || calls[0].Fault != "hang" {
			t.Errorf("fake calls = %+v, want one hang", calls)
		}
	})
}
