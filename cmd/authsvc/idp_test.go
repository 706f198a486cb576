package main

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/api"
)

// TestIdentityProviderAcrossRestarts: with derived userIDs and
// auto-provisioning, a subject keeps its userID when the server restarts on
// the same database.
func TestIdentityProviderAcrossRestarts(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	secret := "identity-provider-secret-0123456789abcdef"
	env["AUTHSVC_JWT_HS256_SECRET"] = secret
	env["AUTHSVC_JWT_ISSUER"] = "https://login.example.com/"
	env["AUTHSVC_JWT_AUDIENCE"] = "my-app"
	env["AUTHSVC_JWT_USER_ID"] = "hash"
	env["AUTHSVC_JWT_AUTO_PROVISION"] = "true"
	cred, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://login.example.com/", "aud": "my-app", "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
		"name": "Ada", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}

	var ids []string
	for range 2 {
		srv := startServer(t, env)
		var tok api.TokenResponse
		call(t, "POST", srv.url+"/v1/token", cred, nil, 200, &tok)
		ids = append(ids, tok.UserID)
		if err := srv.stop(); err != nil {
			t.Fatal(err)
		}
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("userIDs across a restart: %q", ids)
	}
}

func TestIdentityProviderConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"no issuer", map[string]string{"AUTHSVC_JWT_HS256_SECRET": "identity-provider-secret-0123456789abcdef", "AUTHSVC_JWT_AUDIENCE": "a"}, "AUTHSVC_JWT_ISSUER"},
		{"no audience", map[string]string{"AUTHSVC_JWT_HS256_SECRET": "identity-provider-secret-0123456789abcdef", "AUTHSVC_JWT_ISSUER": "i"}, "AUTHSVC_JWT_AUDIENCE"},
		{"bad mapping", map[string]string{"AUTHSVC_JWT_HS256_SECRET": "identity-provider-secret-0123456789abcdef", "AUTHSVC_JWT_ISSUER": "i", "AUTHSVC_JWT_AUDIENCE": "a", "AUTHSVC_JWT_USER_ID": "md5"}, "AUTHSVC_JWT_USER_ID"},
		{"missing key file", map[string]string{"AUTHSVC_JWT_PUBLIC_KEY_FILE": "/nonexistent/key.pem", "AUTHSVC_JWT_ISSUER": "i", "AUTHSVC_JWT_AUDIENCE": "a"}, "AUTHSVC_JWT_PUBLIC_KEY_FILE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := productionEnv(t)
			for k, v := range tt.change {
				env[k] = v
			}
			err := runQuiet(env, "serve")
			if err == nil || !contains(err.Error(), tt.want) {
				t.Errorf("serve = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
