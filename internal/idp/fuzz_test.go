package idp_test

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/internal/idp"
)

var reasons = map[string]bool{
	"malformed": true, "algorithm": true, "signature": true, "unknown_key": true, "expired": true,
	"not_yet_valid": true, "missing_exp": true, "issuer": true, "audience": true,
}

// FuzzVerify feeds arbitrary strings to verifiers of every key source: Verify
// must not panic, must fail with a known Reason, and may only accept what
// looks like a JWT.
func FuzzVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	rsaKey, ecKey, ed := newRSA(f), newEC(f, elliptic.P256()), newEd25519(f)
	srv := newJWKSServer(f, jwkOf(f, "rsa", "", &rsaKey.PublicKey), jwkOf(f, "ec", "ES256", &ecKey.PublicKey))
	// The clock stands still: at most one refetch for all inputs.
	clock := newFakeClock()
	verifiers := []*idp.Verifier{
		mustNew(f, idp.Config{HMACSecret: secret}),
		mustNew(f, idp.Config{PublicKeyPEM: pkixPEM(f, &rsaKey.PublicKey)}),
		mustNew(f, idp.Config{PublicKeyPEM: pkixPEM(f, &ecKey.PublicKey)}),
		mustNew(f, idp.Config{PublicKeyPEM: pkixPEM(f, ed.Public())}),
		mustNew(f, idp.WithClock(idp.Config{JWKSURL: srv.URL}, clock.Now)),
	}

	for _, s := range []string{
		sign(f, jwt.SigningMethodHS256, secret, "", claims(nil)),
		sign(f, jwt.SigningMethodRS256, rsaKey, "rsa", claims(nil)),
		sign(f, jwt.SigningMethodPS256, rsaKey, "rsa", claims(map[string]any{"aud": []string{"x", testAudience}})),
		sign(f, jwt.SigningMethodES256, ecKey, "ec", claims(map[string]any{"user_id": 12345678901234567890.0})),
		sign(f, jwt.SigningMethodEdDSA, ed, "", claims(map[string]any{"nbf": testNow.Unix()})),
		sign(f, jwt.SigningMethodHS256, pkixPEM(f, &rsaKey.PublicKey), "rsa", claims(nil)),
		rawToken(`{"alg":"none"}`, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999}`, nil),
		rawToken(`{"alg":"ES256","kid":"nope"}`, `{}`, make([]byte, 64)),
		rawToken(`{"alg":"RS256","crit":["b64"],"b64":false}`, `{}`, []byte("x")),
		rawToken(`{"alg":"HS256"}`, `{"exp":1e400,"iss":[],"aud":{}}`, []byte("x")),
		"", ".", "..", "a.b.c", "eyJ.eyJ.", "garbage", "\x00\xff.\x80.",
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, s string) {
		looks := idp.LooksLikeJWT(s)
		for i, v := range verifiers {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := v.Verify(ctx, s, testNow)
			cancel()
			if err == nil {
				if !looks {
					t.Errorf("verifier %d accepted %q, which LooksLikeJWT rejects", i, s)
				}
				if c.Issuer != testIssuer {
					t.Errorf("verifier %d accepted %q with issuer %q", i, s, c.Issuer)
				}
				continue
			}
			e, ok := err.(*idp.Error)
			if !ok || !reasons[e.Reason] {
				t.Errorf("verifier %d: Verify(%q) = %v, want an *idp.Error with a known reason", i, s, err)
			}
		}
	})
}

// FuzzParseJWKS feeds arbitrary documents to the JWKS parser, the reader of
// what comes over the network.
func FuzzParseJWKS(f *testing.F) {
	rsaKey, ecKey, ed := newRSA(f), newEC(f, elliptic.P384()), newEd25519(f)
	f.Add(mustJSON(f, map[string]any{"keys": []any{
		jwkOf(f, "rsa", "RS256", &rsaKey.PublicKey), jwkOf(f, "ec", "", &ecKey.PublicKey), jwkOf(f, "ed", "", ed.Public()),
	}}))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""},{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"},{"kty":"OKP","crv":"Ed25519","x":"` + strings.Repeat("A", 43) + `"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		kids, _, err := idp.ParseJWKS(body)
		if err == nil && len(kids) == 0 {
			t.Errorf("ParseJWKS(%q) = no keys and no error", body)
		}
	})
}

// FuzzPlainNumber checks that Claims.String's number rewriting keeps the
// value of every JSON number and drops the exponent when it may.
func FuzzPlainNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "12345678901234567890", "1.5e3", "25E-3", "-1.20E+1", "0e5", "1e400", "1e100", "1e-100", "0.000e-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		var n json.Number
		if json.Unmarshal([]byte(lit), &n) != nil || string(n) != lit {
			return // not a JSON number literal as the decoder keeps it
		}
		got := idp.PlainNumber(lit)
		if got == lit {
			return // unchanged, so the same value; big.Rat may not even parse it
		}
		want, ok1 := new(big.Rat).SetString(lit)
		have, ok2 := new(big.Rat).SetString(got)
		if !ok1 || !ok2 || want.Cmp(have) != 0 {
			t.Fatalf("PlainNumber(%q) = %q, another value", lit, got)
		}
		if strings.ContainsAny(got, "eE") {
			t.Fatalf("PlainNumber(%q) = %q, rewritten but with an exponent", lit, got)
		}
		if len(got) > len(lit)+101 {
			t.Fatalf("PlainNumber(%q) = %d bytes, too long", lit, len(got))
		}
	})
}
