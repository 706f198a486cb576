package idp_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/internal/idp"
)

const (
	testIssuer   = "https://idp.example.com/"
	testAudience = "authsvc-test"
)

// testNow is the time tokens are verified at.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// claims returns valid claims at testNow, with extra merged in; a nil value
// in extra deletes the claim.
func claims(extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "user-1",
		"iat": testNow.Add(-time.Minute).Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign returns a token signed with key by method, with kid in the header
// unless kid is "".
func sign(tb testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.Claims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("SignedString(%s) = %v", method.Alg(), err)
	}
	return s
}

// rawToken assembles a token from a header and claims as JSON and a
// signature, with no signing: for tokens golang-jwt would refuse to make.
func rawToken(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

func newRSA(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func newEC(tb testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func newEd25519(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// pkixPEM returns pub as a PEM "PUBLIC KEY" block.
func pkixPEM(tb testing.TB, pub crypto.PublicKey) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf returns the JWK of pub with kid and, unless "", alg.
func jwkOf(tb testing.TB, kid, alg string, pub crypto.PublicKey) map[string]any {
	tb.Helper()
	j := map[string]any{"kid": kid, "use": "sig"}
	if alg != "" {
		j["alg"] = alg
	}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		j["kty"] = "RSA"
		j["n"] = b64(pub.N.Bytes())
		j["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		p, err := pub.Bytes()
		if err != nil {
			tb.Fatal(err)
		}
		size := (len(p) - 1) / 2
		j["kty"] = "EC"
		j["crv"] = pub.Curve.Params().Name
		j["x"] = b64(p[1 : 1+size])
		j["y"] = b64(p[1+size:])
	case ed25519.PublicKey:
		j["kty"] = "OKP"
		j["crv"] = "Ed25519"
		j["x"] = b64(pub)
	default:
		tb.Fatalf("jwkOf(%T)", pub)
	}
	return j
}

// jwksHandler serves a JWKS and counts the requests. Its keys can be
// replaced and it can be told to fail or to hold requests. It answers over a
// real listener (newJWKSServer) or in memory as an http.RoundTripper
// (newJWKSTransport), which lets a test run inside a synctest bubble.
type jwksHandler struct {
	fetches atomic.Int64

	mu      sync.Mutex
	keys    []map[string]any
	failing bool
	gate    chan struct{} // when non-nil, requests wait for it to close
}

func (s *jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	gate, failing := s.gate, s.failing
	body, err := json.Marshal(map[string]any{"keys": s.keys})
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if failing || err != nil {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(body)
}

// RoundTrip answers every request in memory through ServeHTTP.
func (s *jwksHandler) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err // as a transport whose request was canceled
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

func (s *jwksHandler) fetchCount() int64 { return s.fetches.Load() }

func (s *jwksHandler) setKeys(keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksHandler) setFailing(failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = failing
}

func (s *jwksHandler) setGate(gate chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = gate
}

// jwksServer is a jwksHandler on 127.0.0.1.
type jwksServer struct {
	*httptest.Server
	*jwksHandler
}

func newJWKSServer(tb testing.TB, keys ...map[string]any) *jwksServer {
	tb.Helper()
	s := &jwksServer{jwksHandler: &jwksHandler{keys: keys}}
	s.Server = httptest.NewServer(s.jwksHandler)
	tb.Cleanup(s.Close)
	return s
}

// memJWKSURL is the JWKS URL of a verifier built on newJWKSTransport; the
// transport answers it without dialing.
const memJWKSURL = "http://127.0.0.1/jwks"

// newJWKSTransport returns a jwksHandler answering in memory, and a client
// that uses it.
func newJWKSTransport(keys ...map[string]any) (*jwksHandler, *http.Client) {
	h := &jwksHandler{keys: keys}
	return h, &http.Client{Transport: h}
}

// fakeClock is the JWKS refresh clock of a test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: testNow} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mustNew calls idp.New with the test issuer and audience filled in.
func mustNew(tb testing.TB, cfg idp.Config) *idp.Verifier {
	tb.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = testIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := idp.New(ctx, cfg)
	if err != nil {
		tb.Fatalf("New = %v", err)
	}
	return v
}

// verify calls v.Verify at testNow with a bounded context.
func verify(tb testing.TB, v *idp.Verifier, token string) (idp.Claims, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return v.Verify(ctx, token, testNow)
}

// wantReason fails unless err is an *idp.Error with reason.
func wantReason(tb testing.TB, err error, reason string) {
	tb.Helper()
	var e *idp.Error
	if !errors.As(err, &e) {
		tb.Fatalf("Verify error = %v, want reason %q", err, reason)
	}
	if e.Reason != reason {
		tb.Fatalf("Verify error reason = %q (%v), want %q", e.Reason, err, reason)
	}
}

// wantOK fails unless token verifies, with subject sub.
func wantOK(tb testing.TB, v *idp.Verifier, token, sub string) idp.Claims {
	tb.Helper()
	c, err := verify(tb, v, token)
	if err != nil {
		tb.Fatalf("Verify = %v, want nil", err)
	}
	if c.Subject != sub || c.Issuer != testIssuer {
		tb.Fatalf("Verify = {Issuer %q, Subject %q}, want {%q, %q}", c.Issuer, c.Subject, testIssuer, sub)
	}
	return c
}
