package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceClaims reads a token body with encoding/json, following the rules
// the hand-written reader claims to follow: valid UTF-8, fields in any order,
// unknown fields ignored, known fields at most once, integers without fraction
// or exponent in the field's range, strings for user_id and payload.
func referenceClaims(body []byte) (Claims, error) {
	var c Claims
	seen, err := referenceObject(body, func(key string, raw []byte) (bool, error) {
		var err error
		switch key {
		case "app_id":
			var u uint64
			u, err = referenceInt(raw, func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 32) })
			c.AppID = uint32(u)
		case "nonce":
			var v int64
			v, err = referenceInt(raw, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 32) })
			c.Nonce = int32(v)
		case "ctime":
			c.IssuedAt, err = referenceInt(raw, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
		case "expire":
			c.ExpiresAt, err = referenceInt(raw, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
		case "user_id":
			c.UserID, err = referenceString(raw)
		case "payload":
			c.Payload, err = referenceString(raw)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return Claims{}, err
	}
	for _, k := range []string{"app_id", "user_id", "nonce", "ctime", "expire"} {
		if !seen[k] {
			return Claims{}, fmt.Errorf("missing %s", k)
		}
	}
	return c, nil
}

// referenceObject walks the members of the JSON object in b with
// encoding/json, calling member for each. A key member knows may appear only
// once; it returns the keys it knew.
func referenceObject(b []byte, member func(key string, raw []byte) (known bool, err error)) (map[string]bool, error) {
	if !utf8.Valid(b) || !json.Valid(b) {
		return nil, errors.New("invalid")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		known, err := member(key, bytes.TrimSpace(raw))
		if !known {
			continue
		}
		if seen[key] {
			return nil, errors.New("duplicate " + key)
		}
		seen[key] = true
		if err != nil {
			return nil, err
		}
	}
	return seen, nil
}

func referenceInt[T int64 | uint64](raw []byte, parse func(string) (T, error)) (T, error) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, errors.New("not a number")
	}
	return parse(string(raw))
}

func referenceString(raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errors.New("not a string")
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// checkParseClaims compares parseClaims with referenceClaims on body.
func checkParseClaims(tb testing.TB, body []byte) {
	tb.Helper()
	got, err := parseClaims(bytes.Clone(body))
	want, wantErr := referenceClaims(body)
	switch {
	case !utf8.Valid(body) && err == nil:
		tb.Fatalf("parseClaims(%q) = %+v, nil; want an error for invalid UTF-8", body, got)
	case (err == nil) != (wantErr == nil):
		tb.Fatalf("parseClaims(%q) = %+v, %v; encoding/json says %+v, %v", body, got, err, want, wantErr)
	case got != want:
		tb.Fatalf("parseClaims(%q) = %+v; encoding/json says %+v", body, got, want)
	}
}

const claimsBase = `"user_id":"u","nonce":1,"ctime":2,"expire":3`

// claimsCases are bodies with what parseClaims must make of them; they seed
// FuzzParseClaims and FuzzSealedBody too.
var claimsCases = []struct {
	body string
	want Claims // zero: want an error
}{
	{`{"app_id":1,` + claimsBase + `}`, Claims{AppID: 1, UserID: "u", Nonce: 1, IssuedAt: 2, ExpiresAt: 3}},
	{` { "expire" : 3 , "ctime":2,"nonce":1,"user_id":"u","app_id":4294967295,"payload":"p" } `, Claims{AppID: math.MaxUint32, UserID: "u", Nonce: 1, IssuedAt: 2, ExpiresAt: 3, Payload: "p"}},
	{"{\"app_id\":1,\t\r\n" + claimsBase + `,"x":{"a":[1,-2.5e+3,true,false,null,"\u00e9"]}}`, Claims{AppID: 1, UserID: "u", Nonce: 1, IssuedAt: 2, ExpiresAt: 3}},
	{`{"app\u005fid":1,` + claimsBase + `}`, Claims{AppID: 1, UserID: "u", Nonce: 1, IssuedAt: 2, ExpiresAt: 3}},
	{`{"app_id":1,"user_id":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800\u0041\udc00x","nonce":-2147483648,"ctime":-9223372036854775808,"expire":9223372036854775807}`,
		Claims{AppID: 1, UserID: "\"\\/\b\f\n\r\té😀\ufffdA\ufffdx", Nonce: math.MinInt32, IssuedAt: math.MinInt64, ExpiresAt: math.MaxInt64}},
	{`{"app_id":1,` + claimsBase + `,"nonce2":-0}`, Claims{AppID: 1, UserID: "u", Nonce: 1, IssuedAt: 2, ExpiresAt: 3}},
	{`{"app_id":1,"user_id":"u","nonce":-0,"ctime":2,"expire":3}`, Claims{AppID: 1, UserID: "u", IssuedAt: 2, ExpiresAt: 3}},
	{`{"app_id":0,` + claimsBase + `}`, Claims{UserID: "u", Nonce: 1, IssuedAt: 2, ExpiresAt: 3}},
	{`{"app_id":-0,` + claimsBase + `}`, Claims{}},
	{`{"app_id":4294967296,` + claimsBase + `}`, Claims{}},
	{`{"app_id":-1,` + claimsBase + `}`, Claims{}},
	{`{"app_id":1.0,` + claimsBase + `}`, Claims{}},
	{`{"app_id":1e2,` + claimsBase + `}`, Claims{}},
	{`{"app_id":"1",` + claimsBase + `}`, Claims{}},
	{`{"app_id":null,` + claimsBase + `}`, Claims{}},
	{`{"app_id":01,` + claimsBase + `}`, Claims{}},
	{`{"app_id":1,"user_id":"u","nonce":2147483648,"ctime":2,"expire":3}`, Claims{}},
	{`{"app_id":1,"user_id":"u","nonce":1,"ctime":9223372036854775808,"expire":3}`, Claims{}},
	{`{"app_id":1,"user_id":"u","nonce":1,"ctime":-9223372036854775809,"expire":3}`, Claims{}},
	{`{"app_id":1,"user_id":"u","nonce":1,"ctime":99999999999999999999,"expire":3}`, Claims{}},
	{`{"app_id":1,"user_id":1,"nonce":1,"ctime":2,"expire":3}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"payload":null}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"app_id":1}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"app\u005fid":1}`, Claims{}},
	{`{"APP_ID":1,` + claimsBase + `}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `}x`, Claims{}},
	{`{"app_id":1,` + claimsBase + `}{}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"x":[1,]}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"x":tru}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"x":"\x"}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"x":"\u12"}`, Claims{}},
	{"{\"app_id\":1," + claimsBase + ",\"x\":\"\x01\"}", Claims{}},
	{"{\"app_id\":1," + claimsBase + ",\"x\":\"\xff\"}", Claims{}},
	{`{"app_id":1,` + claimsBase + `,"x":-}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"x":1.}`, Claims{}},
	{`{"app_id":1,` + claimsBase + `,"x":1e}`, Claims{}},
	{`[]`, Claims{}},
	{``, Claims{}},
	{`{"app_id":1,"user_id":"u"`, Claims{}},
}

func TestParseClaims(t *testing.T) {
	t.Parallel()
	for _, tt := range claimsCases {
		got, err := parseClaims([]byte(tt.body))
		if tt.want == (Claims{}) {
			if err == nil {
				t.Errorf("parseClaims(%s) = %+v, nil; want an error", tt.body, got)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("parseClaims(%s) = %+v, %v; want %+v", tt.body, got, err, tt.want)
		}
		checkParseClaims(t, []byte(tt.body))
	}
}

func TestParseClaimsDepth(t *testing.T) {
	t.Parallel()
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		// The object itself is one level.
		nest := strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1)
		body := `{"app_id":1,"user_id":"u","nonce":1,"ctime":2,"expire":3,"x":` + nest + `}`
		_, err := parseClaims([]byte(body))
		if (err == nil) != (depth <= maxDepth) {
			t.Errorf("parseClaims(depth %d) = %v", depth, err)
		}
		checkParseClaims(t, []byte(body))
	}
}

func TestQuoted(t *testing.T) {
	t.Parallel()
	var all []byte
	for c := range 256 {
		if c < utf8.RuneSelf {
			all = append(all, byte(c))
		}
	}
	for _, s := range []string{"", "plain", string(all), "é中😀\u2028", `"\`} {
		q := appendQuoted(nil, s)
		if len(q) != quotedLen(s) {
			t.Errorf("quotedLen(%q) = %d, want %d", s, quotedLen(s), len(q))
		}
		var got string
		if err := json.Unmarshal(q, &got); err != nil || got != s {
			t.Errorf("json.Unmarshal(appendQuoted(%q)) = %q, %v", s, got, err)
		}
	}
}

func TestIntLen(t *testing.T) {
	t.Parallel()
	vals := []int64{0, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	for p := int64(1); p <= 1e18; p *= 10 {
		vals = append(vals, p-1, p, p+1, -p+1, -p, -p-1)
	}
	for _, v := range vals {
		if got, want := intLen(v), len(strconv.FormatInt(v, 10)); got != want {
			t.Errorf("intLen(%d) = %d, want %d", v, got, want)
		}
	}
	for _, u := range []uint64{math.MaxUint64, 1e19, 1e19 - 1, math.MaxUint32} {
		if got, want := uintLen(u), len(strconv.FormatUint(u, 10)); got != want {
			t.Errorf("uintLen(%d) = %d, want %d", u, got, want)
		}
	}
}
