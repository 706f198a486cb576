package token

import (
	"errors"
	"strings"
	"testing"
	"time"

	"authsvc/internal/token/tokenvectors"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	cur, old, stranger := mustKey(t, testSecret), mustKey(t, otherSecret), mustKey(t, strings.Repeat("x", 32))
	mint := func(k *Key, v Variant, issued time.Time) string {
		t.Helper()
		tok, _, err := k.Mint(seeded(20), issued, Params{AppID: 7, UserID: "alice", EffectiveTime: 600, Variant: v})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, v := range []Variant{GCM, CBC} {
		fresh, byOld := mint(cur, v, testNow), mint(old, v, testNow)
		tests := []struct {
			name     string
			tok      string
			keys     []*Key
			now      time.Time
			want     Expect
			wantErr  error
			wantKey  int
			verified bool
		}{
			{"current key", fresh, []*Key{cur, old}, testNow, Expect{AppID: 7, UserID: "alice"}, nil, 0, true},
			{"previous key", byOld, []*Key{cur, old}, testNow, Expect{}, nil, 1, true},
			{"nil key skipped", byOld, []*Key{nil, old}, testNow, Expect{}, nil, 1, true},
			{"unknown key", fresh, []*Key{stranger, old}, testNow, Expect{}, ErrBadSecret, 0, false},
			{"no keys", fresh, nil, testNow, Expect{}, ErrBadSecret, 0, false},
			{"malformed", "04AAAA", []*Key{cur}, testNow, Expect{}, ErrMalformed, 0, false},
			{"version", "03" + fresh[2:], []*Key{cur}, testNow, Expect{}, ErrVersion, 0, false},
			{"other app", fresh, []*Key{cur}, testNow, Expect{AppID: 8}, ErrAppMismatch, 0, true},
			{"other user", fresh, []*Key{cur}, testNow, Expect{UserID: "bob"}, ErrUserMismatch, 0, true},
			{"user IDs compare exactly", fresh, []*Key{cur}, testNow, Expect{UserID: "Alice"}, ErrUserMismatch, 0, true},
			{"last second", fresh, []*Key{cur}, testNow.Add(599 * time.Second), Expect{}, nil, 0, true},
			{"expired at expire", fresh, []*Key{cur}, testNow.Add(600 * time.Second), Expect{}, ErrExpired, 0, true},
			{"expired later", byOld, []*Key{cur, old}, testNow.Add(48 * time.Hour), Expect{}, ErrExpired, 1, true},
			{"ctime within skew", fresh, []*Key{cur}, testNow.Add(-ClockSkew * time.Second), Expect{}, nil, 0, true},
			{"ctime beyond skew", fresh, []*Key{cur}, testNow.Add(-(ClockSkew + 1) * time.Second), Expect{}, ErrNotYetValid, 0, true},
			// App before user before time: the first failing check wins.
			{"app checked first", fresh, []*Key{cur}, testNow.Add(48 * time.Hour), Expect{AppID: 8, UserID: "bob"}, ErrAppMismatch, 0, true},
			{"user before time", fresh, []*Key{cur}, testNow.Add(48 * time.Hour), Expect{UserID: "bob"}, ErrUserMismatch, 0, true},
		}
		for _, tt := range tests {
			got, err := Verify(tt.tok, tt.keys, tt.now, tt.want)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("%v %s: Verify = %v, want %v", v, tt.name, err, tt.wantErr)
			}
			if !tt.verified {
				if got != (Verified{}) {
					t.Errorf("%v %s: Verify = %+v, want it empty", v, tt.name, got)
				}
				continue
			}
			if got.Variant != v || got.KeyIndex != tt.wantKey || got.AppID != 7 || got.UserID != "alice" {
				t.Errorf("%v %s: Verify = %+v, want variant %v, key %d, app 7, user alice", v, tt.name, got, v, tt.wantKey)
			}
		}
	}
}

func TestVerifyVectors(t *testing.T) {
	t.Parallel()
	for _, vec := range tokenvectors.All() {
		k := mustKey(t, vec.Secret)
		at := time.Unix(vec.Want.Ctime, 0)
		got, err := Verify(vec.Token, []*Key{mustKey(t, otherSecret), k}, at, Expect{AppID: vec.Want.AppID, UserID: vec.Want.UserID})
		if err != nil || got.KeyIndex != 1 || got.Variant.String() != vec.Want.Variant || got.Nonce != vec.Want.Nonce {
			t.Errorf("Verify(%s token at its ctime) = %+v, %v", vec.Generator, got, err)
		}
		_, err = Verify(vec.Token, []*Key{k}, time.Unix(vec.Want.Expire, 0), Expect{})
		if !errors.Is(err, ErrExpired) {
			t.Errorf("Verify(%s token at its expire) = %v, want ErrExpired", vec.Generator, err)
		}
	}
}

// TestErrors pins each sentinel's reason and client codes, as listed in the
// package doc, and checks that wrapped errors still match.
func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err       *Error
		reason    string
		zim, rtc  int
		wantInMsg string
	}{
		{ErrMalformed, "malformed", 6000103, 1002075, "(zim error 6000103, rtc error 1002075)"},
		{ErrVersion, "unsupported_version", 6000107, 1002079, "(zim error 6000107, rtc error 1002079)"},
		{ErrBadSecret, "bad_secret", 6000103, 1002075, "(zim error 6000103, rtc error 1002075)"},
		{ErrAppMismatch, "app_mismatch", 6000103, 1002076, "(zim error 6000103, rtc error 1002076)"},
		{ErrUserMismatch, "user_mismatch", 6000103, 1002077, "(zim error 6000103, rtc error 1002077)"},
		{ErrExpired, "expired", 6000106, 1002078, "token expired (zim error 6000106, rtc error 1002078)"},
		{ErrNotYetValid, "issued_in_future", 6000103, 1002075, "(zim error 6000103, rtc error 1002075)"},
		{ErrTTLTooShort, "ttl_too_short", 6000108, 0, "(zim error 6000108)"},
		{ErrTTLTooLong, "ttl_too_long", 6000109, 0, "(zim error 6000109)"},
		{ErrInvalidAppID, "invalid_app_id", 0, 1002076, "(rtc error 1002076)"},
		{ErrInvalidUserID, "invalid_user_id", 0, 1002077, "(rtc error 1002077)"},
		{ErrInvalidPayload, "invalid_payload", 0, 0, "invalid payload"},
		{ErrSecretLength, "secret_length", 0, 0, "32 bytes"},
	}
	for _, tt := range tests {
		if tt.err.Reason != tt.reason || tt.err.ZIMCode != tt.zim || tt.err.RTCCode != tt.rtc {
			t.Errorf("%v = %q %d %d, want %q %d %d", tt.err, tt.err.Reason, tt.err.ZIMCode, tt.err.RTCCode, tt.reason, tt.zim, tt.rtc)
		}
		if msg := tt.err.Error(); !strings.Contains(msg, tt.wantInMsg) {
			t.Errorf("%s.Error() = %q, want it to contain %q", tt.reason, msg, tt.wantInMsg)
		}
	}
	if got := (&Error{Reason: "custom"}).Error(); got != "token: custom" {
		t.Errorf("Error{Reason: custom}.Error() = %q", got)
	}

	k := mustKey(t, testSecret)
	tok, _, err := k.Mint(seeded(21), testNow, Params{AppID: 7, UserID: "alice", EffectiveTime: 60})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(tok, []*Key{k}, testNow.Add(time.Hour), Expect{})
	var te *Error
	if !errors.As(err, &te) || te != ErrExpired || !errors.Is(err, ErrExpired) || errors.Is(err, ErrMalformed) {
		t.Errorf("Verify(expired) = %v; want errors.Is/As to find ErrExpired only", err)
	}
	if strings.Contains(err.Error(), tok[2:]) || strings.Contains(err.Error(), testSecret) {
		t.Errorf("Verify(expired) error %q contains the token or the secret", err)
	}
}
