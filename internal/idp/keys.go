package idp

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Bounds on RSA moduli, in bits. Under 2048 bits is too weak (NIST SP
// 800-131A); over 8192 no identity provider needs, and each verification with
// such a key would cost far more.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// key is a verification key with the algorithms it may verify. pub is a
// []byte for HMAC, else *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey:
// the types golang-jwt's methods expect, so a key never reaches a method of
// another family.
type key struct {
	kid  string
	algs []string
	pub  any
}

func (k *key) allows(alg string) bool { return slices.Contains(k.algs, alg) }

// publicAlgs returns the algorithms a public key may verify, or an error if
// the key is of a type or strength Verify does not accept.
//
// RSA keys allow every RSA algorithm: a token's choice among them buys an
// attacker nothing without the private key, and identity providers differ
// (RS256 is common, Keycloak and others offer PS256 and RS512). ECDSA keys
// allow only the algorithm of their curve, Ed25519 keys only EdDSA.
func publicAlgs(pub any) ([]string, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(pub); err != nil {
			return nil, err
		}
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("ECDSA curve %s not supported", pub.Curve.Params().Name)
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 key has a wrong length")
		}
		return []string{jwt.SigningMethodEdDSA.Alg()}, nil
	}
	return nil, fmt.Errorf("key type %T not supported", pub)
}

func checkRSA(pub *rsa.PublicKey) error {
	n := pub.N.BitLen()
	switch {
	case n < minRSABits:
		return fmt.Errorf("RSA key has %d bits, under %d", n, minRSABits)
	case n > maxRSABits:
		return fmt.Errorf("RSA key has %d bits, over %d", n, maxRSABits)
	case pub.N.Bit(0) == 0:
		return errors.New("RSA modulus is even")
	case pub.E < 3 || pub.E%2 == 0 || pub.E > 1<<31-1:
		return errors.New("RSA exponent is not an odd number from 3 to 2^31-1")
	}
	return nil
}

// parsePublicKeyPEM reads one PEM block holding a public key: PKIX
// "PUBLIC KEY" (RSA, ECDSA or Ed25519) or PKCS#1 "RSA PUBLIC KEY".
func parsePublicKeyPEM(data []byte) (*key, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if next, _ := pem.Decode(rest); next != nil {
		// Most likely a certificate chain or a key bundle: choosing one
		// block silently could pin the wrong key.
		return nil, errors.New("more than one PEM block")
	}
	var (
		pub any
		err error
	)
	switch {
	case block.Type == "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, fmt.Errorf("PEM block is a %s; give the identity provider's public key", block.Type)
	default:
		return nil, fmt.Errorf("PEM block type %q is not PUBLIC KEY or RSA PUBLIC KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	algs, err := publicAlgs(pub)
	if err != nil {
		return nil, err
	}
	return &key{algs: algs, pub: pub}, nil
}

// jwk is the part of a JSON Web Key (RFC 7517, 7518, 8037) that Verify reads.
// Private members such as "d" are never read.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// errIgnored marks a JWK skipped by design (an encryption key, a symmetric
// key, a key type Verify does not support) rather than a broken one.
var errIgnored = errors.New("ignored")

// parseJWK turns one member of a JWKS "keys" array into a key. Its errors
// wrap errIgnored when the key is not meant for us.
func parseJWK(raw []byte) (*key, error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, err
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("%w: use %q", errIgnored, j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, fmt.Errorf("%w: key_ops without verify", errIgnored)
	}
	var pub any
	switch j.Kty {
	case "RSA":
		n, err := decodeB64(j.N)
		if err != nil {
			return nil, fmt.Errorf("RSA n: %w", err)
		}
		e, err := decodeB64(j.E)
		if err != nil {
			return nil, fmt.Errorf("RSA e: %w", err)
		}
		if len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("RSA n or e missing or e too large")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("%w: EC curve %q", errIgnored, j.Crv)
		}
		x, err := decodeB64(j.X)
		if err != nil {
			return nil, fmt.Errorf("EC x: %w", err)
		}
		y, err := decodeB64(j.Y)
		if err != nil {
			return nil, fmt.Errorf("EC y: %w", err)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("EC x and y must be %d bytes each", size)
		}
		point := append(append([]byte{4}, x...), y...)
		// Refuses points off the curve and the point at infinity.
		ec, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, err
		}
		pub = ec
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("%w: OKP curve %q", errIgnored, j.Crv)
		}
		x, err := decodeB64(j.X)
		if err != nil {
			return nil, fmt.Errorf("OKP x: %w", err)
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 x must be %d bytes", ed25519.PublicKeySize)
		}
		pub = ed25519.PublicKey(x)
	default:
		// "oct" (a shared secret) lands here too: an HMAC key published in
		// a JWKS would be no secret at all.
		return nil, fmt.Errorf("%w: kty %q", errIgnored, j.Kty)
	}
	algs, err := publicAlgs(pub)
	if err != nil {
		return nil, err
	}
	if j.Alg != "" {
		if !slices.Contains(algs, j.Alg) {
			return nil, fmt.Errorf("alg %q does not fit the key", j.Alg)
		}
		algs = []string{j.Alg}
	}
	return &key{kid: j.Kid, algs: algs, pub: pub}, nil
}

// decodeB64 decodes base64url without padding (RFC 7515), tolerating padding
// that some providers add.
func decodeB64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// keySet is one fetched JWKS. It is not modified once in use.
type keySet struct {
	keys    []*key
	fetched time.Time // when the fetch ended, by jwksSource.now
}

// skippedKey says why a JWK was not used.
type skippedKey struct {
	index int
	kid   string
	err   error
}

// parseJWKS reads a JWK Set document. It skips keys it cannot or must not
// use, reporting each, and fails when none is left.
func parseJWKS(body []byte) (*keySet, []skippedKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse JWKS: %w", err)
	}
	set := &keySet{}
	var skipped []skippedKey
	for i, raw := range doc.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			var kid struct {
				Kid string `json:"kid"`
			}
			_ = json.Unmarshal(raw, &kid) // best effort, for the report only
			skipped = append(skipped, skippedKey{index: i, kid: kid.Kid, err: err})
			continue
		}
		set.keys = append(set.keys, k)
	}
	if len(set.keys) == 0 {
		if len(skipped) > 0 {
			return nil, skipped, fmt.Errorf("JWKS has no usable key (%d skipped, first: %v)", len(skipped), skipped[0].err)
		}
		return nil, nil, errors.New("JWKS has no keys")
	}
	return set, skipped, nil
}

// lookup returns what verifies a token with kid and alg: one public key, or a
// jwt.VerificationKeySet when several keys share the kid. It fails with
// ErrUnknownKey when no key has the kid (or, for a token without kid, when
// the set does not have exactly one key), and with ErrAlgorithm when keys
// have the kid but none allows alg.
func (s *keySet) lookup(kid, alg string) (any, error) {
	var (
		found   bool
		first   any
		matches []jwt.VerificationKey
	)
	if kid == "" && len(s.keys) != 1 {
		return nil, ErrUnknownKey.wrap(fmt.Errorf("token has no kid and the key set has %d keys", len(s.keys)))
	}
	for _, k := range s.keys {
		if kid != "" && k.kid != kid {
			continue
		}
		found = true
		if !k.allows(alg) {
			continue
		}
		switch {
		case first == nil:
			first = k.pub
		case matches == nil:
			matches = []jwt.VerificationKey{first, k.pub}
		default:
			matches = append(matches, k.pub)
		}
	}
	switch {
	case !found:
		return nil, ErrUnknownKey.wrap(fmt.Errorf("no key with kid %.64q", kid))
	case matches != nil:
		return jwt.VerificationKeySet{Keys: matches}, nil
	case first != nil:
		return first, nil
	}
	return nil, ErrAlgorithm.wrap(fmt.Errorf("key %.64q does not allow alg %.32q", kid, alg))
}
