package httpapi

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"authsvc/api"
	"authsvc/internal/token"
)

// TestRenewUsesTheAppsVariant: a renewal mints the variant the app is
// configured with now, so apps can move off CBC (and, for old SDKs, back).
func TestRenewUsesTheAppsVariant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ app, presented token.Variant }{
		{token.GCM, token.CBC},
		{token.CBC, token.GCM},
		{token.CBC, token.CBC},
	} {
		t.Run(fmt.Sprintf("%v token, %v app", tc.presented, tc.app), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(s *envSetup) { s.creds.Apps[0].Variant = tc.app })
			alice := e.userWithSession("alice")
			old, _, err := e.key.Mint(rand.Reader, e.clock.Now(), token.Params{AppID: testAppID, UserID: "alice", EffectiveTime: 3600, Variant: tc.presented})
			if err != nil {
				t.Fatal(err)
			}
			var renewed api.TokenResponse
			e.do("POST", "/v1/token/renew", alice, map[string]any{"token": old}).want(t, http.StatusOK).decode(t, &renewed)
			v, err := token.Verify(renewed.Token, []*token.Key{e.key}, e.clock.Now(), token.Expect{AppID: testAppID, UserID: "alice"})
			if err != nil || v.Variant != tc.app {
				t.Errorf("renewed token: variant %v, %v; want %v", v.Variant, err, tc.app)
			}
			series := fmt.Sprintf(`authsvc_tokens_issued_total{app_id="%d",kind="renew",variant="%v"}`, testAppID, tc.app)
			if got := e.metric(series); got != "1" {
				t.Errorf("%s = %s, want 1", series, got)
			}
		})
	}
}

// TestVerifySaysCBCIsNotAuthenticated: the claims of a CBC token could be
// forged by whoever saw one, so verify must not present them as proven.
func TestVerifySaysCBCIsNotAuthenticated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, variant := range []token.Variant{token.GCM, token.CBC} {
		tok, _, err := e.key.Mint(rand.Reader, e.clock.Now(), token.Params{AppID: testAppID, UserID: "alice", EffectiveTime: 3600, Variant: variant})
		if err != nil {
			t.Fatal(err)
		}
		var v api.VerifyResponse
		e.do("POST", "/v1/token/verify", testAdminKey, map[string]any{"token": tok}).want(t, http.StatusOK).decode(t, &v)
		switch {
		case v.Authenticated == nil:
			t.Errorf("%v: verify = %+v, want authenticated set", variant, v)
		case variant == token.GCM && (!*v.Authenticated || v.Warning != ""):
			t.Errorf("GCM: authenticated %v, warning %q; want true and none", *v.Authenticated, v.Warning)
		case variant == token.CBC && (*v.Authenticated || !strings.Contains(v.Warning, "no integrity check")):
			t.Errorf("CBC: authenticated %v, warning %q; want false and a warning", *v.Authenticated, v.Warning)
		}
	}
	var v api.VerifyResponse
	e.do("POST", "/v1/token/verify", testAdminKey, map[string]any{"token": "garbage"}).want(t, http.StatusOK).decode(t, &v)
	if v.Authenticated != nil || v.Warning != "" {
		t.Errorf("a token no secret opens: %+v, want neither authenticated nor warning", v)
	}
}
