package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/api"
	"authsvc/internal/idp"
	"authsvc/internal/users"
)

const (
	idpIssuer   = "https://login.example.com/"
	idpAudience = "authsvc-tests"
)

var idpSecret = []byte("identity-provider-hmac-secret-0123456789")

// withIdP configures an HS256 identity provider; change adjusts it.
func withIdP(t testing.TB, change func(*IdentityProvider)) envOption {
	return func(s *envSetup) {
		v, err := idp.New(context.Background(), idp.Config{HMACSecret: idpSecret, Issuer: idpIssuer, Audience: idpAudience})
		if err != nil {
			t.Fatal(err)
		}
		ip := &IdentityProvider{Verifier: v, UserClaim: "sub", NameClaim: "name"}
		if change != nil {
			change(ip)
		}
		s.creds.IdP = ip
	}
}

// idpToken signs claims as the identity provider would, at the env's time.
func (e *env) idpToken(claims jwt.MapClaims) string {
	e.t.Helper()
	now := e.clock.Now()
	base := jwt.MapClaims{"iss": idpIssuer, "aud": idpAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, base).SignedString(idpSecret)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func TestIdentityProviderTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withIdP(t, nil))
	e.createUser("alice")
	cred := e.idpToken(jwt.MapClaims{"sub": "alice"})

	var tok api.TokenResponse
	e.do("POST", "/v1/token", cred, nil).want(t, 200).decode(t, &tok)
	if tok.UserID != "alice" {
		t.Errorf("token for %q", tok.UserID)
	}
	e.do("POST", "/v1/token/renew", cred, map[string]any{"token": tok.Token}).want(t, 200)
	// Only the token routes take identity provider credentials.
	e.do("GET", "/v1/users/alice", cred, nil).problem(t, 401, codeUnauthorized)
	// Users must exist unless auto-provisioning is on.
	e.do("POST", "/v1/token", e.idpToken(jwt.MapClaims{"sub": "stranger"}), nil).problem(t, 403, codeUserNotFound)
	// Disabled users get nothing.
	e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"disabled": true}).want(t, 200)
	e.do("POST", "/v1/token", cred, nil).problem(t, 403, codeUserDisabled)

	// A subject that breaks the ZIM rule is refused with the reason.
	p := e.do("POST", "/v1/token", e.idpToken(jwt.MapClaims{"sub": "google-oauth2|123456789012345678901"}), nil).problem(t, 403, codeForbidden)
	if !strings.Contains(p.Detail, "AUTHSVC_JWT_USER_ID=hash") {
		t.Errorf("detail does not say why or what to do: %q", p.Detail)
	}
	e.do("POST", "/v1/token", e.idpToken(jwt.MapClaims{"sub": nil}), nil).problem(t, 403, codeForbidden)

	for _, tc := range []struct {
		name   string
		cred   string
		reason string
	}{
		{"expired", e.idpToken(jwt.MapClaims{"sub": "alice", "exp": e.clock.Now().Add(-time.Hour).Unix()}), "expired"},
		{"wrong issuer", e.idpToken(jwt.MapClaims{"sub": "alice", "iss": "https://evil.example.com/"}), "issuer"},
		{"wrong audience", e.idpToken(jwt.MapClaims{"sub": "alice", "aud": "someone-else"}), "audience"},
		{"tampered", tamper(e.idpToken(jwt.MapClaims{"sub": "alice"})), "signature"},
	} {
		p := e.do("POST", "/v1/token", tc.cred, nil).problem(t, 401, codeUnauthorized)
		if p.Reason != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, p.Reason, tc.reason)
		}
	}
}

// tamper changes one character of a JWT's signature.
func tamper(tok string) string {
	b := []byte(tok)
	i := strings.LastIndexByte(tok, '.') + 3
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestIdentityProviderHashAndAutoProvision(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withIdP(t, func(ip *IdentityProvider) { ip.HashUserIDs = true; ip.AutoProvision = true }))
	subject := "google-oauth2|123456789012345678901"
	cred := e.idpToken(jwt.MapClaims{"sub": subject, "name": "Grace Hopper"})
	var first, second api.TokenResponse
	e.do("POST", "/v1/token", cred, nil).want(t, 200).decode(t, &first)
	if first.UserID != idp.HashUserID(idpIssuer, subject) || first.UserName != "Grace Hopper" {
		t.Errorf("auto-provisioned %q named %q", first.UserID, first.UserName)
	}
	if err := users.ValidateID(first.UserID); err != nil {
		t.Errorf("derived userID %q breaks the ZIM rule: %v", first.UserID, err)
	}
	e.do("POST", "/v1/token", cred, nil).want(t, 200).decode(t, &second)
	if second.UserID != first.UserID {
		t.Errorf("same subject, different users: %q and %q", first.UserID, second.UserID)
	}
	var list api.UserList
	e.do("GET", "/v1/users", testAdminKey, nil).want(t, 200).decode(t, &list)
	if len(list.Users) != 1 {
		t.Errorf("%d users after two requests of one subject", len(list.Users))
	}
	// Its creation is audited once, as the identity provider's doing.
	var created auditPage
	e.do("GET", "/v1/audit?event=user.created", testAdminKey, nil).want(t, 200).decode(t, &created)
	if len(created.Events) != 1 || created.Events[0].UserID != first.UserID || created.Events[0].Actor != "idp:"+idpIssuer+"#"+subject ||
		created.Events[0].Reason != "provisioned" {
		t.Errorf("user.created events = %+v, want one for %s by the identity provider", created.Events, first.UserID)
	}
	// A disabled auto-provisioned user is not re-created or re-enabled.
	e.do("PATCH", "/v1/users/"+first.UserID, testAdminKey, map[string]any{"disabled": true}).want(t, 200)
	e.do("POST", "/v1/token", cred, nil).problem(t, http.StatusForbidden, codeUserDisabled)
}

// TestIdentityProviderConcurrentFirstRequests: requests of a new subject
// that arrive together, on one real database file, all get the one user
// that auto-provisioning creates for it.
func TestIdentityProviderConcurrentFirstRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withIdP(t, func(ip *IdentityProvider) { ip.AutoProvision = true }))
	cred := e.idpToken(jwt.MapClaims{"sub": "ada", "name": "Ada Lovelace"})
	const n = 8
	var wg sync.WaitGroup
	got := make([]api.TokenResponse, n)
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequest("POST", e.srv.URL+"/v1/token", nil)
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+cred)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("request %d: status %d, want 200", i, resp.StatusCode)
				return
			}
			if err := json.NewDecoder(resp.Body).Decode(&got[i]); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for i, tok := range got {
		if tok.UserID != "ada" || tok.UserName != "Ada Lovelace" {
			t.Errorf("request %d: token for %q named %q, want ada, Ada Lovelace", i, tok.UserID, tok.UserName)
		}
	}
	var list api.UserList
	e.do("GET", "/v1/users", testAdminKey, nil).want(t, 200).decode(t, &list)
	if len(list.Users) != 1 {
		t.Errorf("%d users after %d concurrent first requests of one subject, want 1", len(list.Users), n)
	}
	var created auditPage
	e.do("GET", "/v1/audit?event=user.created", testAdminKey, nil).want(t, 200).decode(t, &created)
	if len(created.Events) != 1 {
		t.Errorf("%d user.created events after %d concurrent first requests, want 1: %+v", len(created.Events), n, created.Events)
	}
}
