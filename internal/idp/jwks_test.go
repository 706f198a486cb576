package idp_test

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/internal/idp"
	"authsvc/internal/testlog"
)

// wantFetches fails unless the JWKS was fetched want times.
func wantFetches(tb testing.TB, srv interface{ fetchCount() int64 }, want int64) {
	tb.Helper()
	if got := srv.fetchCount(); got != want {
		tb.Fatalf("JWKS fetched %d times, want %d", got, want)
	}
}

func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	k1, k2, k3 := newEC(t, elliptic.P256()), newEC(t, elliptic.P256()), newEC(t, elliptic.P256())
	tok1 := sign(t, jwt.SigningMethodES256, k1, "k1", claims(nil))
	tok2 := sign(t, jwt.SigningMethodES256, k2, "k2", claims(nil))
	tok3 := sign(t, jwt.SigningMethodES256, k3, "k3", claims(nil))

	srv := newJWKSServer(t, jwkOf(t, "k1", "ES256", &k1.PublicKey))
	v := mustNew(t, idp.WithClock(idp.Config{JWKSURL: srv.URL}, clock.Now))
	wantFetches(t, srv, 1)
	wantOK(t, v, tok1, "user-1")

	// The provider rotates: k2 replaces k1. The first token with the new kid
	// makes the verifier refetch, and it follows.
	srv.setKeys(jwkOf(t, "k2", "ES256", &k2.PublicKey))
	wantOK(t, v, tok2, "user-1")
	wantFetches(t, srv, 2)
	wantOK(t, v, tok2, "user-1")
	wantFetches(t, srv, 2)

	// Another unknown kid within the interval: no fetch.
	clock.Advance(idp.DefaultJWKSMinRefresh - time.Second)
	_, err := verify(t, v, tok3)
	wantReason(t, err, "unknown_key")
	// k1 left the set with the refetch.
	_, err = verify(t, v, tok1)
	wantReason(t, err, "unknown_key")
	wantFetches(t, srv, 2)

	// Once the interval has passed, the next unknown kid refetches.
	clock.Advance(time.Second)
	srv.setKeys(jwkOf(t, "k2", "ES256", &k2.PublicKey), jwkOf(t, "k3", "ES256", &k3.PublicKey))
	wantOK(t, v, tok3, "user-1")
	wantOK(t, v, tok2, "user-1")
	wantFetches(t, srv, 3)
}

// TestJWKSRefetchShared sends a token with a new kid from many goroutines at
// once: one fetch serves them all. It runs in a synctest bubble, so that
// synctest.Wait knows when every caller has queued behind the held fetch.
func TestJWKSRefetchShared(t *testing.T) {
	t.Parallel()
	k1, k2 := newEC(t, elliptic.P256()), newEC(t, elliptic.P256())
	tok2 := sign(t, jwt.SigningMethodES256, k2, "k2", claims(nil))
	synctest.Test(t, func(t *testing.T) {
		srv, client := newJWKSTransport(jwkOf(t, "k1", "", &k1.PublicKey))
		v := mustNew(t, idp.Config{JWKSURL: memJWKSURL, HTTPClient: client})

		gate := make(chan struct{})
		release := sync.OnceFunc(func() { close(gate) })
		t.Cleanup(release) // a failed test must not leave the fetch blocked
		srv.setKeys(jwkOf(t, "k2", "", &k2.PublicKey))
		srv.setGate(gate)

		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = verify(t, v, tok2) })
		}
		// Every goroutine now waits: the one fetch on the gate, the
		// callers on that fetch.
		synctest.Wait()
		wantFetches(t, srv, 2)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("goroutine %d returned %v before the fetch ended", i, err)
			}
		}
		release()
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("goroutine %d: Verify = %v, want nil", i, err)
			}
		}
		wantFetches(t, srv, 2)
	})
}

func TestJWKSFailureKeepsKeys(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	logs := &testlog.Buffer{}
	k1 := newEC(t, elliptic.P256())
	tok1 := sign(t, jwt.SigningMethodES256, k1, "k1", claims(nil))
	tokNew := sign(t, jwt.SigningMethodES256, newEC(t, elliptic.P256()), "k-new", claims(nil))
	srv := newJWKSServer(t, jwkOf(t, "k1", "", &k1.PublicKey))
	v := mustNew(t, idp.WithClock(idp.Config{
		JWKSURL: srv.URL,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, clock.Now))

	// The provider fails: the refetch fails, the old key still works.
	srv.setFailing(true)
	_, err := verify(t, v, tokNew)
	wantReason(t, err, "unknown_key")
	wantFetches(t, srv, 2)
	wantOK(t, v, tok1, "user-1")
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "JWKS refresh failed") || !strings.Contains(l, "503") {
		t.Errorf("log = %q, want a warning about the failed refresh with its status", l)
	}

	// The provider answers with an empty set: also kept out.
	clock.Advance(idp.DefaultJWKSMinRefresh)
	srv.setFailing(false)
	srv.setKeys()
	_, err = verify(t, v, tokNew)
	wantReason(t, err, "unknown_key")
	wantFetches(t, srv, 3)
	wantOK(t, v, tok1, "user-1")

	if l := logs.String(); strings.Contains(l, tok1) || strings.Contains(l, tokNew) || strings.Contains(l, strings.Split(tokNew, ".")[2]) {
		t.Errorf("log contains a token: %q", l)
	}
}

// TestJWKSMaxAge withdraws a key without a new kid appearing: once the set
// is older than JWKSMaxAge, a background refetch drops the key.
func TestJWKSMaxAge(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	k1, k2 := newEC(t, elliptic.P256()), newEC(t, elliptic.P256())
	tok1 := sign(t, jwt.SigningMethodES256, k1, "k1", claims(nil))
	tok2 := sign(t, jwt.SigningMethodES256, k2, "k2", claims(nil))
	srv := newJWKSServer(t, jwkOf(t, "k1", "", &k1.PublicKey), jwkOf(t, "k2", "", &k2.PublicKey))
	v := mustNew(t, idp.WithClock(idp.Config{JWKSURL: srv.URL, JWKSMaxAge: 10 * time.Minute}, clock.Now))

	srv.setKeys(jwkOf(t, "k2", "", &k2.PublicKey))
	clock.Advance(10*time.Minute - time.Second)
	wantOK(t, v, tok1, "user-1")
	wantFetches(t, srv, 1)

	clock.Advance(time.Second)
	// This call still sees k1 and starts the refetch.
	wantOK(t, v, tok1, "user-1")
	idp.WaitRefresh(v)
	wantFetches(t, srv, 2)
	_, err := verify(t, v, tok1)
	wantReason(t, err, "unknown_key")
	wantOK(t, v, tok2, "user-1")
	wantFetches(t, srv, 2)
}

// TestJWKSWaitCanceled: a caller waiting for a refetch leaves when its
// context ends; the refetch goes on for the others. In a synctest bubble, a
// Verify that never returned would be reported as a deadlock, with no
// wall-clock timeout.
func TestJWKSWaitCanceled(t *testing.T) {
	t.Parallel()
	k1, k2 := newEC(t, elliptic.P256()), newEC(t, elliptic.P256())
	tok2 := sign(t, jwt.SigningMethodES256, k2, "k2", claims(nil))
	synctest.Test(t, func(t *testing.T) {
		srv, client := newJWKSTransport(jwkOf(t, "k1", "", &k1.PublicKey))
		v := mustNew(t, idp.Config{JWKSURL: memJWKSURL, HTTPClient: client})
		gate := make(chan struct{})
		release := sync.OnceFunc(func() { close(gate) })
		t.Cleanup(release) // a failed test must not leave the fetch blocked
		srv.setGate(gate)
		srv.setKeys(jwkOf(t, "k2", "", &k2.PublicKey))

		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := v.Verify(ctx, tok2, testNow)
			errc <- err
		}()
		synctest.Wait() // the fetch is held at the gate, Verify waits for it
		wantFetches(t, srv, 2)
		cancel()
		err := <-errc
		wantReason(t, err, "unknown_key")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Verify = %v, want it to wrap context.Canceled", err)
		}

		srv.setGate(nil)
		release()
		idp.WaitRefresh(v)
		wantOK(t, v, tok2, "user-1")
		wantFetches(t, srv, 2)
	})
}

func TestJWKSNewFails(t *testing.T) {
	t.Parallel()
	rsaKey := newRSA(t)
	good := jwkOf(t, "k", "", &rsaKey.PublicKey)
	goodSet := mustJSON(t, map[string]any{"keys": []any{good}})
	huge := `{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`

	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"status 500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, "500"},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, "parse JWKS"},
		{"no keys", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"keys":[]}`)) }, "no keys"},
		{"no usable key", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
		}, "no usable key"},
		{"too large", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(huge)) }, "over"},
		{"redirect to plain http elsewhere", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://idp.test/jwks", http.StatusFound)
		}, "redirects are not followed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			// idp.test is answered in memory, so a followed redirect would
			// succeed without leaving the machine: only the refusal stops it.
			client := &http.Client{Transport: inMemoryHost{host: "idp.test", body: goodSet, next: http.DefaultTransport}}
			_, err := idp.New(context.Background(), idp.Config{
				JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience, HTTPClient: client,
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		_, err := idp.New(context.Background(), idp.Config{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience})
		if err == nil || !strings.Contains(err.Error(), "JWKSURL") {
			t.Errorf("New = %v, want an error naming JWKSURL", err)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, good)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := idp.New(ctx, idp.Config{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("New = %v, want context.Canceled", err)
		}
	})
}

// inMemoryHost answers requests for host with body, and passes others to
// next.
type inMemoryHost struct {
	host string
	body []byte
	next http.RoundTripper
}

func (h inMemoryHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != h.host {
		return h.next.RoundTrip(r)
	}
	rec := httptest.NewRecorder()
	rec.Write(h.body)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	rsaKey := newRSA(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec := newEC(t, elliptic.P256())
	ed := newEd25519(t)
	with := func(j map[string]any, k string, v any) map[string]any {
		c := make(map[string]any, len(j)+1)
		for k, v := range j {
			c[k] = v
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	ecJWK := jwkOf(t, "ec", "", &ec.PublicKey)
	y := []byte(ecJWK["y"].(string))
	y[len(y)/2] ^= 1 // another y: off the curve, almost surely
	if y[len(y)/2] == '-'^1 || y[len(y)/2] == '_'^1 {
		y[len(y)/2] = 'A'
	}

	tests := []struct {
		name string
		key  map[string]any
		ok   bool
	}{
		{"RSA", jwkOf(t, "k", "", &rsaKey.PublicKey), true},
		{"RSA with padding", with(jwkOf(t, "k", "", &rsaKey.PublicKey), "n", b64(rsaKey.N.Bytes())+"=="), true},
		{"RSA PS512", jwkOf(t, "k", "PS512", &rsaKey.PublicKey), true},
		{"RSA 1024", jwkOf(t, "k", "", &small.PublicKey), false},
		{"RSA even e", with(jwkOf(t, "k", "", &rsaKey.PublicKey), "e", "AQAC"), false},
		{"RSA e too long", with(jwkOf(t, "k", "", &rsaKey.PublicKey), "e", "AQABAQAB"), false},
		{"RSA no n", with(jwkOf(t, "k", "", &rsaKey.PublicKey), "n", nil), false},
		{"RSA with HS256", jwkOf(t, "k", "HS256", &rsaKey.PublicKey), false},
		{"RSA use enc", with(jwkOf(t, "k", "", &rsaKey.PublicKey), "use", "enc"), false},
		{"RSA no use", with(jwkOf(t, "k", "", &rsaKey.PublicKey), "use", nil), true},
		{"RSA key_ops verify", with(jwkOf(t, "k", "", &rsaKey.PublicKey), "key_ops", []string{"verify"}), true},
		{"RSA key_ops encrypt", with(jwkOf(t, "k", "", &rsaKey.PublicKey), "key_ops", []string{"encrypt"}), false},
		{"EC", ecJWK, true},
		{"EC ES384 on P-256", jwkOf(t, "k", "ES384", &ec.PublicKey), false},
		{"EC off the curve", with(ecJWK, "y", string(y)), false},
		{"EC short x", with(ecJWK, "x", b64(make([]byte, 31))), false},
		{"EC P-256K", with(ecJWK, "crv", "secp256k1"), false},
		{"EC bad base64", with(ecJWK, "x", "!!"), false},
		{"Ed25519", jwkOf(t, "k", "EdDSA", ed.Public()), true},
		{"Ed25519 short", with(jwkOf(t, "k", "", ed.Public()), "x", b64(make([]byte, 31))), false},
		{"X25519", with(jwkOf(t, "k", "", ed.Public()), "crv", "X25519"), false},
		{"oct", map[string]any{"kty": "oct", "k": b64([]byte("0123456789abcdef0123456789abcdef"))}, false},
		{"kid not a string", with(ecJWK, "kid", 5), false},
		{"no kty", with(ecJWK, "kty", nil), false},
	}
	for _, tt := range tests {
		body := mustJSON(t, map[string]any{"keys": []any{tt.key}})
		kids, skipped, err := idp.ParseJWKS(body)
		if tt.ok && (err != nil || len(kids) != 1 || skipped != 0) {
			t.Errorf("%s: ParseJWKS = %v, %d skipped, %v; want one key", tt.name, kids, skipped, err)
		}
		if !tt.ok && (err == nil || skipped != 1) {
			t.Errorf("%s: ParseJWKS = %v, %d skipped, %v; want the key skipped and an error", tt.name, kids, skipped, err)
		}
	}

	// A usable key beside unusable ones.
	body := mustJSON(t, map[string]any{"keys": []any{
		map[string]any{"kty": "oct", "k": "AAAA"}, jwkOf(t, "ec", "ES256", &ec.PublicKey), jwkOf(t, "small", "", &small.PublicKey),
	}})
	kids, skipped, err := idp.ParseJWKS(body)
	if err != nil || !slices.Equal(kids, []string{"ec"}) || skipped != 2 {
		t.Errorf("ParseJWKS(mixed) = %v, %d skipped, %v; want [ec], 2 skipped", kids, skipped, err)
	}

	for _, body := range []string{``, `null`, `[]`, `{}`, `{"keys":{}}`, `{"keys":null}`} {
		if _, _, err := idp.ParseJWKS([]byte(body)); err == nil {
			t.Errorf("ParseJWKS(%q) = nil error, want one", body)
		}
	}
}

// TestJWKSRefusesRedirects: a JWKS endpoint that redirects is refused, and
// the redirect's target is never asked, even one the URL rule would allow
// (here a second loopback server holding a valid set): a redirect could
// point the fetch at an internal address, and a refused request is the only
// safe answer.
func TestJWKSRefusesRedirects(t *testing.T) {
	t.Parallel()
	rsaKey := newRSA(t)
	target := newJWKSServer(t, jwkOf(t, "k", "", &rsaKey.PublicKey))
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/jwks", status)
			}))
			defer redirector.Close()
			for _, client := range []*http.Client{nil, {}} { // the default client, and a caller's own
				_, err := idp.New(context.Background(), idp.Config{
					JWKSURL: redirector.URL, Issuer: testIssuer, Audience: testAudience, HTTPClient: client,
				})
				if err == nil || !strings.Contains(err.Error(), "redirect") {
					t.Errorf("New with a redirecting JWKS URL = %v, want an error about the redirect", err)
				}
			}
		})
	}
	wantFetches(t, target, 0)
}
