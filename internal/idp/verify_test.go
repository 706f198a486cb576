package idp_test

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/internal/idp"
)

func TestVerifyHMAC(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	v := mustNew(t, idp.Config{HMACSecret: secret})
	tok := sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"sub": "alice"}))
	c := wantOK(t, v, tok, "alice")
	if want := time.Unix(testNow.Add(time.Hour).Unix(), 0); !c.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", c.ExpiresAt, want)
	}

	// HS384 and HS512 are not pinned, even with the right secret.
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		_, err := verify(t, v, sign(t, m, secret, "", claims(nil)))
		wantReason(t, err, "algorithm")
	}
	// Another secret of the same length.
	other := []byte("fedcba9876543210fedcba9876543210")
	_, err := verify(t, v, sign(t, jwt.SigningMethodHS256, other, "", claims(nil)))
	wantReason(t, err, "signature")
}

func TestVerifyPublicKeyPEM(t *testing.T) {
	t.Parallel()
	rsaKey := newRSA(t)
	p256, p384, p521 := newEC(t, elliptic.P256()), newEC(t, elliptic.P384()), newEC(t, elliptic.P521())
	ed := newEd25519(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})

	tests := []struct {
		name   string
		pem    []byte
		method jwt.SigningMethod
		key    any
	}{
		{"RSA PKIX RS256", pkixPEM(t, &rsaKey.PublicKey), jwt.SigningMethodRS256, rsaKey},
		{"RSA PKCS1 RS256", pkcs1, jwt.SigningMethodRS256, rsaKey},
		{"RSA PKIX PS256", pkixPEM(t, &rsaKey.PublicKey), jwt.SigningMethodPS256, rsaKey},
		{"RSA PKIX RS512", pkixPEM(t, &rsaKey.PublicKey), jwt.SigningMethodRS512, rsaKey},
		{"ECDSA P-256 ES256", pkixPEM(t, &p256.PublicKey), jwt.SigningMethodES256, p256},
		{"ECDSA P-384 ES384", pkixPEM(t, &p384.PublicKey), jwt.SigningMethodES384, p384},
		{"ECDSA P-521 ES512", pkixPEM(t, &p521.PublicKey), jwt.SigningMethodES512, p521},
		{"Ed25519 EdDSA", pkixPEM(t, ed.Public()), jwt.SigningMethodEdDSA, ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := mustNew(t, idp.Config{PublicKeyPEM: tt.pem})
			wantOK(t, v, sign(t, tt.method, tt.key, "any-kid", claims(nil)), "user-1")
		})
	}
}

func TestVerifyPublicKeyPEMPinsCurve(t *testing.T) {
	t.Parallel()
	p256, p384 := newEC(t, elliptic.P256()), newEC(t, elliptic.P384())
	v := mustNew(t, idp.Config{PublicKeyPEM: pkixPEM(t, &p256.PublicKey)})
	// A P-384 signature over an ES384 token: the alg is refused before any
	// key is tried.
	_, err := verify(t, v, sign(t, jwt.SigningMethodES384, p384, "", claims(nil)))
	wantReason(t, err, "algorithm")
	// EdDSA and RSA algs against an EC key.
	_, err = verify(t, v, sign(t, jwt.SigningMethodEdDSA, newEd25519(t), "", claims(nil)))
	wantReason(t, err, "algorithm")
	// Another P-256 key.
	_, err = verify(t, v, sign(t, jwt.SigningMethodES256, newEC(t, elliptic.P256()), "", claims(nil)))
	wantReason(t, err, "signature")
}

func TestVerifyJWKS(t *testing.T) {
	t.Parallel()
	rsaKey, ecKey, ed := newRSA(t), newEC(t, elliptic.P256()), newEd25519(t)
	srv := newJWKSServer(t,
		jwkOf(t, "rsa-1", "RS256", &rsaKey.PublicKey),
		jwkOf(t, "ec-1", "ES256", &ecKey.PublicKey),
		jwkOf(t, "ed-1", "", ed.Public()),
	)
	v := mustNew(t, idp.Config{JWKSURL: srv.URL})

	wantOK(t, v, sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(map[string]any{"sub": "r"})), "r")
	wantOK(t, v, sign(t, jwt.SigningMethodES256, ecKey, "ec-1", claims(map[string]any{"sub": "e"})), "e")
	wantOK(t, v, sign(t, jwt.SigningMethodEdDSA, ed, "ed-1", claims(map[string]any{"sub": "d"})), "d")

	// The JWK's alg narrows the RSA key to RS256.
	_, err := verify(t, v, sign(t, jwt.SigningMethodPS256, rsaKey, "rsa-1", claims(nil)))
	wantReason(t, err, "algorithm")
	// A kid of another key type.
	_, err = verify(t, v, sign(t, jwt.SigningMethodES256, ecKey, "rsa-1", claims(nil)))
	wantReason(t, err, "algorithm")
	// Several keys and no kid.
	_, err = verify(t, v, sign(t, jwt.SigningMethodES256, ecKey, "", claims(nil)))
	wantReason(t, err, "unknown_key")
	// The right kid, the wrong key.
	_, err = verify(t, v, sign(t, jwt.SigningMethodES256, newEC(t, elliptic.P256()), "ec-1", claims(nil)))
	wantReason(t, err, "signature")
	// A kid that is not a string.
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims(nil))
	tok.Header["kid"] = 7
	s, err := tok.SignedString(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = verify(t, v, s)
	wantReason(t, err, "malformed")
	wantFetches(t, srv, 1) // no refetch for known kids or a missing kid

	// A kid not in the set: one refetch, which does not find it either.
	_, err = verify(t, v, sign(t, jwt.SigningMethodES256, newEC(t, elliptic.P256()), "ec-2", claims(nil)))
	wantReason(t, err, "unknown_key")
	wantFetches(t, srv, 2)
}

func TestVerifyJWKSSingleKeyWithoutKid(t *testing.T) {
	t.Parallel()
	ecKey := newEC(t, elliptic.P256())
	srv := newJWKSServer(t, jwkOf(t, "only", "", &ecKey.PublicKey))
	v := mustNew(t, idp.Config{JWKSURL: srv.URL})
	wantOK(t, v, sign(t, jwt.SigningMethodES256, ecKey, "", claims(nil)), "user-1")
}

func TestVerifyJWKSDuplicateKid(t *testing.T) {
	t.Parallel()
	// Two keys under one kid, as during a sloppy rotation: either verifies.
	old, cur := newEC(t, elliptic.P256()), newEC(t, elliptic.P256())
	srv := newJWKSServer(t, jwkOf(t, "k", "", &old.PublicKey), jwkOf(t, "k", "", &cur.PublicKey))
	v := mustNew(t, idp.Config{JWKSURL: srv.URL})
	wantOK(t, v, sign(t, jwt.SigningMethodES256, old, "k", claims(nil)), "user-1")
	wantOK(t, v, sign(t, jwt.SigningMethodES256, cur, "k", claims(nil)), "user-1")
	_, err := verify(t, v, sign(t, jwt.SigningMethodES256, newEC(t, elliptic.P256()), "k", claims(nil)))
	wantReason(t, err, "signature")
}

// TestVerifyKeyConfusion is the classic attack: the public key's PEM bytes,
// which anyone can read, used as an HMAC secret.
func TestVerifyKeyConfusion(t *testing.T) {
	t.Parallel()
	rsaKey := newRSA(t)
	pubPEM := pkixPEM(t, &rsaKey.PublicKey)

	v := mustNew(t, idp.Config{PublicKeyPEM: pubPEM})
	forged := sign(t, jwt.SigningMethodHS256, pubPEM, "", claims(nil))
	_, err := verify(t, v, forged)
	wantReason(t, err, "algorithm")
	if !errors.Is(err, idp.ErrAlgorithm) {
		t.Errorf("errors.Is(%v, ErrAlgorithm) = false, want true", err)
	}

	// The same through a JWKS, with the kid of the RSA key.
	srv := newJWKSServer(t, jwkOf(t, "rsa", "", &rsaKey.PublicKey))
	jv := mustNew(t, idp.Config{JWKSURL: srv.URL})
	_, err = verify(t, jv, sign(t, jwt.SigningMethodHS256, pubPEM, "rsa", claims(nil)))
	wantReason(t, err, "algorithm")

	// And the misconfiguration that would let it through is refused.
	_, err = idp.New(context.Background(), idp.Config{HMACSecret: pubPEM, Issuer: testIssuer, Audience: testAudience})
	if err == nil || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("New(HMACSecret: a PEM public key) = %v, want an error naming PEM", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	ecKey := newEC(t, elliptic.P256())
	rsaKey := newRSA(t)
	v := mustNew(t, idp.Config{PublicKeyPEM: pkixPEM(t, &ecKey.PublicKey)})
	es := func(extra map[string]any) string {
		return sign(t, jwt.SigningMethodES256, ecKey, "", claims(extra))
	}
	good := es(nil)
	parts := strings.Split(good, ".")
	// flip changes one character in the middle of the signature.
	flip := func(seg string) string {
		i := len(seg) / 2
		c := byte('A')
		if seg[i] == 'A' {
			c = 'B'
		}
		return seg[:i] + string(c) + seg[i+1:]
	}
	payloadOf := func(extra map[string]any) string {
		return strings.Split(es(extra), ".")[1]
	}
	crit := jwt.NewWithClaims(jwt.SigningMethodES256, claims(nil))
	crit.Header["crit"] = []string{"exp"}
	critTok, err := crit.SignedString(ecKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{"expired", es(map[string]any{"exp": testNow.Add(-time.Hour).Unix()}), "expired"},
		{"expired beyond leeway", es(map[string]any{"exp": testNow.Add(-31 * time.Second).Unix()}), "expired"},
		{"exp zero", es(map[string]any{"exp": 0}), "expired"},
		{"missing exp", es(map[string]any{"exp": nil}), "missing_exp"},
		{"exp not a number", es(map[string]any{"exp": "tomorrow"}), "malformed"},
		{"nbf in the future", es(map[string]any{"nbf": testNow.Add(time.Hour).Unix()}), "not_yet_valid"},
		{"iat in the future", es(map[string]any{"iat": testNow.Add(time.Hour).Unix()}), "not_yet_valid"},
		{"wrong issuer", es(map[string]any{"iss": "https://evil.example.com/"}), "issuer"},
		{"issuer differs by a slash", es(map[string]any{"iss": strings.TrimSuffix(testIssuer, "/")}), "issuer"},
		{"missing issuer", es(map[string]any{"iss": nil}), "issuer"},
		{"wrong audience", es(map[string]any{"aud": "another-app"}), "audience"},
		{"audience list without ours", es(map[string]any{"aud": []string{"a", "b"}}), "audience"},
		{"missing audience", es(map[string]any{"aud": nil}), "audience"},
		{"wrong issuer and expired", es(map[string]any{"iss": "x", "exp": testNow.Add(-time.Hour).Unix()}), "issuer"},
		{"sub not a string", es(map[string]any{"sub": 42}), "malformed"},
		{"alg none", rawToken(`{"alg":"none","typ":"JWT"}`, string(mustJSON(t, claims(nil))), nil), "algorithm"},
		{"alg None", rawToken(`{"alg":"None"}`, string(mustJSON(t, claims(nil))), nil), "algorithm"},
		{"alg missing", rawToken(`{"typ":"JWT"}`, string(mustJSON(t, claims(nil))), []byte("sig")), "algorithm"},
		{"alg unknown", rawToken(`{"alg":"ES257"}`, string(mustJSON(t, claims(nil))), []byte("sig")), "algorithm"},
		{"alg HS256 with the public key", sign(t, jwt.SigningMethodHS256, pkixPEM(t, &ecKey.PublicKey), "", claims(nil)), "algorithm"},
		{"alg RS256", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims(nil)), "algorithm"},
		// Tampering that keeps the payload valid JSON, as an attacker would.
		{"tampered payload sub", parts[0] + "." + payloadOf(map[string]any{"sub": "admin"}) + "." + parts[2], "signature"},
		{"tampered payload exp", parts[0] + "." + payloadOf(map[string]any{"exp": testNow.Add(1000 * time.Hour).Unix()}) + "." + parts[2], "signature"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), "signature"},
		{"signature removed", parts[0] + "." + parts[1] + ".", "signature"},
		{"crit header", critTok, "malformed"},
		{"garbage", "garbage", "malformed"},
		{"empty", "", "malformed"},
		{"four segments", good + ".x", "malformed"},
		{"bad base64", "!!!." + parts[1] + "." + parts[2], "malformed"},
		{"header not JSON", b64([]byte("nope")) + "." + parts[1] + "." + parts[2], "malformed"},
		{"payload not an object", parts[0] + "." + b64([]byte("[1]")) + "." + parts[2], "malformed"},
		{"too long", parts[0] + "." + strings.Repeat("A", idp.MaxTokenLen) + "." + parts[2], "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := verify(t, v, tt.token)
			wantReason(t, err, tt.reason)
			if c.Subject != "" || c.Issuer != "" || c.String("sub") != "" {
				t.Errorf("Verify returned claims %+v with an error", c)
			}
			if strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Errorf("Verify error %q contains the token", err)
			}
		})
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestVerifyLeeway(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	hs := func(extra map[string]any) string {
		return sign(t, jwt.SigningMethodHS256, secret, "", claims(extra))
	}
	tests := []struct {
		leeway time.Duration
		extra  map[string]any
		reason string // "" for accepted
	}{
		{0, map[string]any{"exp": testNow.Add(-29 * time.Second).Unix()}, ""},
		{0, map[string]any{"exp": testNow.Add(-30 * time.Second).Unix()}, "expired"},
		{0, map[string]any{"nbf": testNow.Add(30 * time.Second).Unix()}, ""},
		{0, map[string]any{"nbf": testNow.Add(31 * time.Second).Unix()}, "not_yet_valid"},
		{0, map[string]any{"iat": testNow.Add(30 * time.Second).Unix()}, ""},
		{time.Second, map[string]any{"exp": testNow.Add(-29 * time.Second).Unix()}, "expired"},
		{time.Second, map[string]any{"nbf": testNow.Add(2 * time.Second).Unix()}, "not_yet_valid"},
		{idp.MaxLeeway, map[string]any{"exp": testNow.Add(-4 * time.Minute).Unix()}, ""},
	}
	for _, tt := range tests {
		v := mustNew(t, idp.Config{HMACSecret: secret, Leeway: tt.leeway})
		_, err := verify(t, v, hs(tt.extra))
		if tt.reason == "" {
			if err != nil {
				t.Errorf("leeway %v, claims %v: Verify = %v, want nil", tt.leeway, tt.extra, err)
			}
			continue
		}
		var e *idp.Error
		if !errors.As(err, &e) || e.Reason != tt.reason {
			t.Errorf("leeway %v, claims %v: Verify = %v, want reason %q", tt.leeway, tt.extra, err, tt.reason)
		}
	}
}

func TestVerifyZeroTime(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	v := mustNew(t, idp.Config{HMACSecret: secret})
	_, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, secret, "", claims(nil)), time.Time{})
	if err == nil {
		t.Fatal("Verify(zero time) = nil, want an error")
	}
	if _, ok := errors.AsType[*idp.Error](err); ok {
		t.Errorf("Verify(zero time) = %v, a token failure; want a plain error", err)
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	v := mustNew(t, idp.Config{HMACSecret: secret})
	_, err := verify(t, v, sign(t, jwt.SigningMethodHS256, secret, "", claims(map[string]any{"exp": 1})))
	if !errors.Is(err, idp.ErrExpired) {
		t.Errorf("errors.Is(%v, ErrExpired) = false, want true", err)
	}
	if errors.Is(err, idp.ErrSignature) {
		t.Errorf("errors.Is(%v, ErrSignature) = true, want false", err)
	}
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("errors.Is(%v, jwt.ErrTokenExpired) = false, want the cause kept", err)
	}
}

func TestClaimsString(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	v := mustNew(t, idp.Config{HMACSecret: secret})
	// Raw JSON, so the numbers are exactly as a provider writes them.
	payload := `{"iss":"` + testIssuer + `","aud":["x","` + testAudience + `"],"exp":` +
		jsonInt(testNow.Add(time.Hour).Unix()) + `,"sub":"google-oauth2|123456789012345678901",` +
		`"user_id":12345678901234567890,"neg":-42,"frac":0.5,"sci":1.5e3,"small":25E-3,"big":1e400,` +
		`"zero":0e5,"negsci":-1.20E+1,"name":"Zoë","admin":true,"nothing":null,"obj":{"a":1},"arr":[1]}`
	tok := signRaw(t, secret, payload)
	c, err := verify(t, v, tok)
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if c.Subject != "google-oauth2|123456789012345678901" {
		t.Errorf("Subject = %q", c.Subject)
	}
	tests := []struct{ claim, want string }{
		{"user_id", "12345678901234567890"},
		{"neg", "-42"},
		{"frac", "0.5"},
		{"sci", "1500"},
		{"small", "0.025"},
		{"big", "1e400"},
		{"zero", "0"},
		{"negsci", "-12"},
		{"name", "Zoë"},
		{"admin", "true"},
		{"nothing", ""},
		{"obj", ""},
		{"arr", ""},
		{"absent", ""},
		{"sub", "google-oauth2|123456789012345678901"},
	}
	for _, tt := range tests {
		if got := c.String(tt.claim); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.claim, got, tt.want)
		}
	}
	if got := (idp.Claims{}).String("sub"); got != "" {
		t.Errorf("zero Claims.String(sub) = %q, want empty", got)
	}
}

func jsonInt(n int64) string { return string(mustJSONInt(n)) }

func mustJSONInt(n int64) []byte {
	b, _ := json.Marshal(n)
	return b
}

// signRaw signs payload, exactly as given, with HS256.
func signRaw(tb testing.TB, secret []byte, payload string) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, secret)
	if err != nil {
		tb.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	ecKey := newEC(t, elliptic.P256())
	ecPEM := pkixPEM(t, &ecKey.PublicKey)
	privDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224 := newEC(t, elliptic.P224())
	p224DER, err := x509.MarshalPKIXPublicKey(&p224.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		cfg  idp.Config
		want string // in the error
	}{
		{"no source", idp.Config{}, "exactly one"},
		{"two sources", idp.Config{HMACSecret: secret, PublicKeyPEM: ecPEM}, "exactly one"},
		{"short secret", idp.Config{HMACSecret: secret[:31]}, "HMACSecret"},
		{"negative leeway", idp.Config{HMACSecret: secret, Leeway: -time.Second}, "Leeway"},
		{"leeway too large", idp.Config{HMACSecret: secret, Leeway: idp.MaxLeeway + time.Second}, "Leeway"},
		{"not PEM", idp.Config{PublicKeyPEM: []byte("hello")}, "PublicKeyPEM"},
		{"private key", idp.Config{PublicKeyPEM: privPEM}, "public key"},
		{"two PEM blocks", idp.Config{PublicKeyPEM: append(append([]byte{}, ecPEM...), ecPEM...)}, "more than one"},
		{"RSA 1024", idp.Config{PublicKeyPEM: pkixPEM(t, &smallRSA.PublicKey)}, "1024 bits"},
		{"P-224", idp.Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p224DER})}, "P-224"},
		{"certificate", idp.Config{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})}, "CERTIFICATE"},
		{"JWKS over http", idp.Config{JWKSURL: "http://idp.example.com/jwks"}, "https"},
		{"JWKS ftp", idp.Config{JWKSURL: "ftp://127.0.0.1/jwks"}, "scheme"},
		{"JWKS no host", idp.Config{JWKSURL: "https:///jwks"}, "host"},
		{"JWKS credentials", idp.Config{JWKSURL: "https://u:p@idp.example.com/jwks"}, "credentials"},
		{"JWKS bad URL", idp.Config{JWKSURL: "https://%zz"}, "JWKSURL"},
		{"JWKS refresh too often", idp.Config{JWKSURL: "https://idp.example.com/jwks", JWKSMinRefresh: time.Millisecond}, "JWKSMinRefresh"},
		{"JWKS max age under refresh", idp.Config{JWKSURL: "https://idp.example.com/jwks", JWKSMinRefresh: time.Hour, JWKSMaxAge: time.Minute}, "JWKSMaxAge"},
	}
	for _, tt := range tests {
		cfg := tt.cfg
		if cfg.Issuer == "" {
			cfg.Issuer = testIssuer
		}
		if cfg.Audience == "" {
			cfg.Audience = testAudience
		}
		v, err := idp.New(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, %v; want an error containing %q", tt.name, v, err, tt.want)
		}
	}
	for _, tt := range []struct {
		name string
		cfg  idp.Config
	}{
		{"no issuer", idp.Config{HMACSecret: secret, Audience: testAudience}},
		{"no audience", idp.Config{HMACSecret: secret, Issuer: testIssuer}},
		{"NUL in issuer", idp.Config{HMACSecret: secret, Issuer: "a\x00b", Audience: testAudience}},
	} {
		if _, err := idp.New(context.Background(), tt.cfg); err == nil {
			t.Errorf("%s: New = nil error, want one", tt.name)
		}
	}
}
