package apps

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"authsvc/internal/token"
)

var (
	now   = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hour  = TTLBounds{Default: time.Hour, Min: time.Minute, Max: 24 * time.Hour}
	nonce = bytes.Repeat([]byte{7}, 64) // Mint's randomness: enough for a few tokens
)

func mustKey(t testing.TB, secret string) *token.Key {
	t.Helper()
	k, err := token.NewKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// twoApps is app 1 (default, GCM, a current and a previous secret) and
// app 2 (CBC).
func twoApps(t testing.TB) Set {
	t.Helper()
	return Set{
		Apps: []App{
			{ID: 1, Keys: []*token.Key{mustKey(t, strings.Repeat("a", 32)), mustKey(t, strings.Repeat("o", 32))}, TTL: hour, Variant: token.GCM},
			{ID: 2, Keys: []*token.Key{mustKey(t, strings.Repeat("b", 32))}, TTL: hour, Variant: token.CBC},
		},
		Default: 1,
	}
}

func mint(t testing.TB, key *token.Key, at time.Time, p token.Params) string {
	t.Helper()
	tok, _, err := key.Mint(bytes.NewReader(nonce), at, p)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ptr[T any](v T) *T { return &v }

func TestTTLBoundsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		b    TTLBounds
		want string // "" = valid
	}{
		{hour, ""},
		{TTLBounds{Default: 31 * time.Second, Min: 31 * time.Second, Max: 24 * 24 * time.Hour}, ""},
		{TTLBounds{Default: time.Hour + time.Millisecond, Min: time.Minute, Max: 2 * time.Hour}, "whole number of seconds"},
		{TTLBounds{Default: time.Hour, Min: 30 * time.Second, Max: 2 * time.Hour}, "outside"},
		{TTLBounds{Default: time.Hour, Min: time.Minute, Max: 24*24*time.Hour + time.Second}, "outside"},
		{TTLBounds{Default: time.Minute, Min: time.Hour, Max: 2 * time.Hour}, "min (1h0m0s) <= default (1m0s)"},
		{TTLBounds{Default: 3 * time.Hour, Min: time.Hour, Max: 2 * time.Hour}, "<= max"},
	}
	for _, tt := range tests {
		err := tt.b.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v.Validate() = %v, want %q", tt.b, err, tt.want)
		}
	}
}

func TestSetValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Set)
		want   string
	}{
		{"valid", func(*Set) {}, ""},
		{"none", func(s *Set) { s.Apps = nil }, "no app configured"},
		{"app 0", func(s *Set) { s.Apps[1].ID = 0 }, "app ID 0 is not valid"},
		{"twice", func(s *Set) { s.Apps[1].ID = 1 }, "app 1 configured twice"},
		{"no secret", func(s *Set) { s.Apps[1].Keys = nil }, "app 2 has no secret"},
		{"bad TTL", func(s *Set) { s.Apps[1].TTL.Min = 2 * time.Hour }, "app 2: token lifetimes"},
		{"variant", func(s *Set) { s.Apps[0].Variant = 9 }, "app 1: unknown token variant 9"},
		{"default", func(s *Set) { s.Default = 3 }, "default app 3 is not configured"},
	}
	for _, tt := range tests {
		s := twoApps(t)
		tt.change(&s)
		err := s.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestPick(t *testing.T) {
	t.Parallel()
	s := twoApps(t)
	for _, tt := range []struct {
		id   *uint32
		want uint32
	}{{nil, 1}, {ptr[uint32](1), 1}, {ptr[uint32](2), 2}} {
		if app, err := s.Pick(tt.id); err != nil || app.ID != tt.want {
			t.Errorf("Pick(%v) = %+v, %v, want app %d", tt.id, app, err, tt.want)
		}
	}
	_, err := s.Pick(ptr[uint32](3))
	var uae *UnknownAppError
	if !errors.As(err, &uae) || uae.ID != 3 {
		t.Errorf("Pick(3) = %v, want *UnknownAppError for 3", err)
	}
	// A pointer into the set: policy and metrics see the configured app.
	if app, _ := s.Pick(nil); app != &s.Apps[0] {
		t.Error("Pick returned a copy, not the configured app")
	}
}

func TestEffectiveTime(t *testing.T) {
	t.Parallel()
	app := twoApps(t).Apps[0]
	tests := []struct {
		requested *int64
		want      int64
		err       bool
	}{
		{nil, 3600, false},
		{ptr[int64](60), 60, false},
		{ptr[int64](86400), 86400, false},
		{ptr[int64](59), 0, true},
		{ptr[int64](86401), 0, true},
		{ptr[int64](-1), 0, true},
	}
	for _, tt := range tests {
		got, err := app.EffectiveTime(tt.requested)
		var te *TTLError
		if got != tt.want || tt.err != errors.As(err, &te) || tt.err && (te.Min != 60 || te.Max != 86400) {
			t.Errorf("EffectiveTime(%v) = %d, %v, want %d (error %t)", tt.requested, got, err, tt.want, tt.err)
		}
	}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	app := twoApps(t).Apps[1]
	p, err := app.Issue("alice", ptr[int64](120))
	want := token.Params{AppID: 2, UserID: "alice", EffectiveTime: 120, Variant: token.CBC}
	if err != nil || p != want {
		t.Errorf("Issue = %+v, %v, want %+v", p, err, want)
	}
	if _, err := app.Issue("alice", ptr[int64](30)); !errors.As(err, new(*TTLError)) {
		t.Errorf("Issue(30 s) = %v, want a *TTLError", err)
	}
	tok, c, err := app.Mint(bytes.NewReader(nonce), now, p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.Verify(tok, app.Keys, now, token.Expect{AppID: 2})
	if err != nil || v.Claims != c || v.Variant != token.CBC || v.ExpiresAt != now.Unix()+120 {
		t.Errorf("minted token verifies as %+v, %v; want claims %+v, CBC", v, err, c)
	}
}

func TestRenewal(t *testing.T) {
	t.Parallel()
	s := twoApps(t)
	app := &s.Apps[0]
	// A CBC token of app 1 (say, from before the app moved to GCM), with
	// two hours left.
	old := mint(t, app.Keys[0], now, token.Params{AppID: 1, UserID: "bob", EffectiveTime: 3 * 3600, Payload: "p", Variant: token.CBC})
	later := now.Add(time.Hour)
	got, v, err := s.Renewable(old, later, 0)
	if err != nil || got != app {
		t.Fatalf("Renewable = app %v, %v", got, err)
	}
	tests := []struct {
		requested *int64
		want      int64
	}{
		{nil, 2 * 3600},            // the default hour would end before the old token
		{ptr[int64](60), 2 * 3600}, // so would a minute
		{ptr[int64](5 * 3600), 5 * 3600},
	}
	for _, tt := range tests {
		p, err := app.Renewal(v, tt.requested, later)
		want := token.Params{AppID: 1, UserID: "bob", EffectiveTime: tt.want, Payload: "p", Variant: token.GCM}
		if err != nil || p != want {
			t.Errorf("Renewal(%v) = %+v, %v, want %+v", tt.requested, p, err, want)
		}
	}
	if _, err := app.Renewal(v, ptr[int64](10), later); !errors.As(err, new(*TTLError)) {
		t.Errorf("Renewal(10 s) = %v, want a *TTLError", err)
	}
}

func TestRenewableGrace(t *testing.T) {
	t.Parallel()
	s := twoApps(t)
	tok := mint(t, s.Apps[0].Keys[1], now, token.Params{AppID: 1, UserID: "bob", EffectiveTime: 60, Variant: token.GCM})
	expired := now.Add(60 * time.Second)
	tests := []struct {
		at    time.Time
		grace time.Duration
		want  error
	}{
		{now, 0, nil},
		{expired, 0, token.ErrExpired},
		{expired, time.Second, nil},
		{expired.Add(4 * time.Second), 5 * time.Second, nil},
		{expired.Add(5 * time.Second), 5 * time.Second, token.ErrExpired},
	}
	for _, tt := range tests {
		app, v, err := s.Renewable(tok, tt.at, tt.grace)
		if !errors.Is(err, tt.want) || err == nil && tt.want != nil {
			t.Errorf("Renewable at +%v, grace %v = %v, want %v", tt.at.Sub(now), tt.grace, err, tt.want)
		}
		// Even refused, the app and claims are known: the token is authentic.
		if app == nil || app.ID != 1 || v.UserID != "bob" || v.KeyIndex != 1 {
			t.Errorf("Renewable at +%v = app %v, %+v, want app 1, bob, previous secret", tt.at.Sub(now), app, v)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	s := twoApps(t)
	tok1 := mint(t, s.Apps[0].Keys[0], now, token.Params{AppID: 1, UserID: "u", EffectiveTime: 3600, Variant: token.GCM})
	tok2 := mint(t, s.Apps[1].Keys[0], now, token.Params{AppID: 2, UserID: "u", EffectiveTime: 3600, Variant: token.CBC})
	other := mint(t, mustKey(t, strings.Repeat("x", 32)), now, token.Params{AppID: 1, UserID: "u", EffectiveTime: 3600, Variant: token.GCM})
	// The right secret, but minted for app 2: the appID inside must match.
	wrongApp := mint(t, s.Apps[0].Keys[0], now, token.Params{AppID: 2, UserID: "u", EffectiveTime: 3600, Variant: token.GCM})
	tests := []struct {
		tok     string
		only    uint32
		wantApp uint32 // 0 = none
		want    error
	}{
		{tok1, 0, 1, nil},
		{tok2, 0, 2, nil},
		{tok2, 2, 2, nil},
		{tok1, 2, 0, token.ErrBadSecret},
		{other, 0, 0, token.ErrBadSecret},
		{wrongApp, 0, 1, token.ErrAppMismatch},
		{"04garbage", 0, 0, token.ErrMalformed},
		{"03" + tok1[2:], 0, 0, token.ErrVersion},
	}
	for i, tt := range tests {
		app, _, err := s.Verify(tt.tok, now, tt.only)
		var gotApp uint32
		if app != nil {
			gotApp = app.ID
		}
		if gotApp != tt.wantApp || !errors.Is(err, tt.want) || err == nil && tt.want != nil {
			t.Errorf("%d: Verify(_, only %d) = app %d, %v, want app %d, %v", i, tt.only, gotApp, err, tt.wantApp, tt.want)
		}
	}
}

func TestUsable(t *testing.T) {
	t.Parallel()
	s := twoApps(t)
	tok := mint(t, s.Apps[0].Keys[0], now, token.Params{AppID: 1, UserID: "u", EffectiveTime: 3600, Variant: token.GCM})
	tests := []struct {
		name   string
		at     time.Time
		only   *uint32
		userID *string
		want   error
	}{
		{"fine", now, nil, nil, nil},
		{"its app and user", now, ptr[uint32](1), ptr("u"), nil},
		{"another user", now, nil, ptr("v"), token.ErrUserMismatch},
		{"another app", now, ptr[uint32](2), nil, token.ErrBadSecret},
		{"31 s left", now.Add(3600*time.Second - 31*time.Second), nil, nil, nil},
		{"30 s left", now.Add(3600*time.Second - 30*time.Second), nil, nil, nil},
		{"29 s left", now.Add(3600*time.Second - 29*time.Second), nil, nil, token.ErrTTLTooShort},
		{"expired", now.Add(3600 * time.Second), nil, nil, token.ErrExpired},
	}
	for _, tt := range tests {
		v, err := s.Usable(tok, tt.at, tt.only, tt.userID)
		if !errors.Is(err, tt.want) || err == nil && tt.want != nil {
			t.Errorf("%s: Usable = %v, want %v", tt.name, err, tt.want)
		}
		if tt.want != token.ErrBadSecret && v.UserID != "u" {
			t.Errorf("%s: Usable claims = %+v, want u's", tt.name, v)
		}
	}
	// More than 24 days ahead: minted by a clock far behind the SDK's.
	far := mint(t, s.Apps[0].Keys[0], now, token.Params{AppID: 1, UserID: "u", EffectiveTime: token.MaxEffectiveTime, Variant: token.GCM})
	if _, err := s.Usable(far, now.Add(-time.Second), nil, nil); !errors.Is(err, token.ErrTTLTooLong) {
		t.Errorf("Usable of a token %d s ahead = %v, want ErrTTLTooLong", token.MaxEffectiveTime+1, err)
	}
	var uae *UnknownAppError
	if _, err := s.Usable(tok, now, ptr[uint32](3), nil); !errors.As(err, &uae) || uae.ID != 3 {
		t.Errorf("Usable for app 3 = %v, want *UnknownAppError", err)
	}
}
