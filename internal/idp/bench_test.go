package idp_test

import (
	"context"
	"crypto/elliptic"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/internal/idp"
)

// BenchmarkVerify measures Verify of a valid token per key source. The
// JWKS case serves from the cached set: no fetch happens in the loop.
func BenchmarkVerify(b *testing.B) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	rsaKey, ecKey, ed := newRSA(b), newEC(b, elliptic.P256()), newEd25519(b)
	srv := newJWKSServer(b, jwkOf(b, "ec", "ES256", &ecKey.PublicKey))
	benchmarks := []struct {
		name  string
		cfg   idp.Config
		token string
	}{
		{"HS256", idp.Config{HMACSecret: secret}, sign(b, jwt.SigningMethodHS256, secret, "", claims(nil))},
		{"ES256", idp.Config{PublicKeyPEM: pkixPEM(b, &ecKey.PublicKey)}, sign(b, jwt.SigningMethodES256, ecKey, "", claims(nil))},
		{"RS256", idp.Config{PublicKeyPEM: pkixPEM(b, &rsaKey.PublicKey)}, sign(b, jwt.SigningMethodRS256, rsaKey, "", claims(nil))},
		{"EdDSA", idp.Config{PublicKeyPEM: pkixPEM(b, ed.Public())}, sign(b, jwt.SigningMethodEdDSA, ed, "", claims(nil))},
		{"JWKS-ES256", idp.Config{JWKSURL: srv.URL}, sign(b, jwt.SigningMethodES256, ecKey, "ec", claims(nil))},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			v := mustNew(b, bm.cfg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, bm.token, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
