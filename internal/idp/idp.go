package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults and bounds of Config.
const (
	// DefaultLeeway is the clock skew allowed when Config.Leeway is zero.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest Config.Leeway: more would keep expired
	// tokens usable for long.
	MaxLeeway = 5 * time.Minute
	// DefaultJWKSMinRefresh is Config.JWKSMinRefresh when zero.
	DefaultJWKSMinRefresh = time.Minute
	// MinJWKSMinRefresh is the smallest Config.JWKSMinRefresh: below it
	// tokens with made-up kids could make the service hammer the provider.
	MinJWKSMinRefresh = time.Second
	// DefaultJWKSMaxAge is Config.JWKSMaxAge when zero.
	DefaultJWKSMaxAge = time.Hour
	// MinHMACSecretLen is the shortest Config.HMACSecret, in bytes: HS256
	// needs a key at least as long as its hash (RFC 7518 section 3.2).
	MinHMACSecretLen = 32
	// MaxTokenLen is the longest token Verify reads, in bytes. Identity
	// provider tokens are one to a few KiB even with many group claims;
	// the bound keeps a hostile one from costing much.
	MaxTokenLen = 64 << 10
)

// Config says which identity provider to trust and how. Exactly one key
// source, HMACSecret, PublicKeyPEM or JWKSURL, must be set; the pinned
// algorithms follow from it.
type Config struct {
	// HMACSecret is the provider's shared secret, at least
	// MinHMACSecretLen bytes. Tokens must use HS256.
	HMACSecret []byte
	// PublicKeyPEM is one PEM block: a PKIX "PUBLIC KEY" or a PKCS#1
	// "RSA PUBLIC KEY". An RSA key (2048 to 8192 bits) allows RS256, RS384,
	// RS512, PS256, PS384 and PS512; an ECDSA key allows ES256, ES384 or
	// ES512 for its curve P-256, P-384 or P-521; an Ed25519 key allows EdDSA.
	PublicKeyPEM []byte
	// JWKSURL is the provider's JSON Web Key Set: https, or http to a
	// loopback host. It is fetched once by New, then again as Verify
	// describes. Keys of kty "oct", with "use" other than "sig" or with
	// "key_ops" lacking "verify" are ignored; a key with "alg" allows only
	// that algorithm, one without allows those listed for PublicKeyPEM.
	JWKSURL string

	// Issuer is required: a token's iss must equal it exactly.
	Issuer string
	// Audience is required: a token's aud must contain it.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat: DefaultLeeway
	// when zero, at most MaxLeeway.
	Leeway time.Duration

	// JWKSMinRefresh is the least time between two refetches of the JWKS;
	// DefaultJWKSMinRefresh when zero, at least MinJWKSMinRefresh.
	JWKSMinRefresh time.Duration
	// JWKSMaxAge is the age at which the JWKS is refetched in the
	// background, so that keys the provider withdrew stop working;
	// DefaultJWKSMaxAge when zero, at least JWKSMinRefresh.
	JWKSMaxAge time.Duration
	// HTTPClient fetches the JWKS; nil means a client with a 10 s timeout.
	// Each fetch is bounded by 10 s whatever the client, and redirects are
	// refused whatever its CheckRedirect.
	HTTPClient *http.Client
	// Logger receives JWKS refresh failures (warn) and skipped JWKS keys;
	// nil discards them. Tokens are never logged.
	Logger *slog.Logger

	// now is the clock of the JWKS refresh rate limit; nil means time.Now.
	// Tests set it to step through refresh intervals without sleeping.
	now func() time.Time
}

// Verifier checks tokens of one identity provider. It is safe for
// concurrent use.
type Verifier struct {
	issuer   string
	audience string
	leeway   time.Duration
	methods  []string // every alg any key may allow, for jwt.WithValidMethods
	static   *key     // for HMACSecret and PublicKeyPEM
	jwks     *jwksSource
}

// New validates cfg and builds a Verifier. For a JWKSURL it fetches the key
// set, within ctx, and fails if that fetch fails or yields no usable key.
// Errors name the Config field at fault.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience, leeway: cfg.Leeway}
	sources := 0
	for _, set := range []bool{len(cfg.HMACSecret) > 0, len(cfg.PublicKeyPEM) > 0, cfg.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources != 1:
		return nil, fmt.Errorf("idp: exactly one of Config.HMACSecret, PublicKeyPEM and JWKSURL must be set, got %d", sources)
	case cfg.Issuer == "":
		return nil, errors.New("idp: Config.Issuer is empty")
	case strings.IndexByte(cfg.Issuer, 0) >= 0:
		// HashUserID separates issuer and subject with a NUL byte.
		return nil, errors.New("idp: Config.Issuer contains a NUL byte")
	case cfg.Audience == "":
		return nil, errors.New("idp: Config.Audience is empty")
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("idp: Config.Leeway %v is not between 0 and %v", cfg.Leeway, MaxLeeway)
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}

	switch {
	case len(cfg.HMACSecret) > 0:
		if len(cfg.HMACSecret) < MinHMACSecretLen {
			return nil, fmt.Errorf("idp: Config.HMACSecret has %d bytes, under %d", len(cfg.HMACSecret), MinHMACSecretLen)
		}
		if bytes.Contains(cfg.HMACSecret, []byte("-----BEGIN ")) {
			// A PEM file given as the HMAC secret is the setup of the key
			// confusion attack: its bytes are public.
			return nil, errors.New("idp: Config.HMACSecret holds a PEM block; a public key belongs in PublicKeyPEM")
		}
		v.static = &key{algs: []string{jwt.SigningMethodHS256.Alg()}, pub: bytes.Clone(cfg.HMACSecret)}
		v.methods = v.static.algs
	case len(cfg.PublicKeyPEM) > 0:
		k, err := parsePublicKeyPEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("idp: Config.PublicKeyPEM: %w", err)
		}
		v.static = k
		v.methods = k.algs
	default:
		s, err := newJWKSSource(cfg)
		if err != nil {
			return nil, err
		}
		set, err := s.fetch(ctx)
		if err != nil {
			return nil, fmt.Errorf("idp: Config.JWKSURL: %w", err)
		}
		s.set.Store(set)
		v.jwks = s
		v.methods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	}
	return v, nil
}

func newJWKSSource(cfg Config) (*jwksSource, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil {
		return nil, fmt.Errorf("idp: Config.JWKSURL: %w", err)
	}
	if err := checkJWKSURL(u); err != nil {
		return nil, fmt.Errorf("idp: Config.JWKSURL: %w", err)
	}
	s := &jwksSource{
		url:        cfg.JWKSURL,
		client:     cfg.HTTPClient,
		log:        cfg.Logger,
		minRefresh: cfg.JWKSMinRefresh,
		maxAge:     cfg.JWKSMaxAge,
		now:        cfg.now,
	}
	if s.minRefresh == 0 {
		s.minRefresh = DefaultJWKSMinRefresh
	}
	if s.minRefresh < MinJWKSMinRefresh {
		return nil, fmt.Errorf("idp: Config.JWKSMinRefresh %v is under %v", s.minRefresh, MinJWKSMinRefresh)
	}
	if s.maxAge == 0 {
		s.maxAge = DefaultJWKSMaxAge
	}
	if s.maxAge < s.minRefresh {
		return nil, fmt.Errorf("idp: Config.JWKSMaxAge %v is under JWKSMinRefresh %v", s.maxAge, s.minRefresh)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: fetchTimeout}
	} else {
		c := *s.client // the caller's client stays as it was
		s.client = &c
	}
	s.client.CheckRedirect = refuseRedirect
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Verify checks token at time now and returns its claims. It accepts a token
// only if
//   - its alg is one the configured key allows (never "none", never HMAC
//     unless the key is an HMAC secret) and its signature verifies;
//   - it has exp, and exp is after now - leeway;
//   - nbf and iat, where present, are before now + leeway;
//   - iss equals Config.Issuer and aud contains Config.Audience;
//   - it has no "crit" header (no extension is supported).
//
// With a JWKS, the token's kid selects the key; a token without kid is
// accepted only while the set holds a single key. An unknown kid triggers a
// refetch, at most one per Config.JWKSMinRefresh, shared by concurrent
// callers, who wait for it within ctx; a failed refetch keeps the old keys.
// The rate-limit interval runs on the wall clock, not on now. The header
// members jku, x5u, jwk and x5c are never followed: keys come only from
// Config.
//
// Failures are *Error values matching one of the sentinels. The token's form,
// alg, key and signature are checked before its claims, so a forged token
// never learns which claim would have failed; among the claims the first
// failure in this order is reported: ErrMalformed (a registered claim of the
// wrong type), ErrIssuer, ErrAudience, ErrMissingExp, ErrExpired,
// ErrNotYetValid. A zero now is a programming error, returned as a plain
// error.
func (v *Verifier) Verify(ctx context.Context, token string, now time.Time) (Claims, error) {
	if now.IsZero() {
		return Claims{}, errors.New("idp: Verify called with a zero time")
	}
	if len(token) > MaxTokenLen {
		return Claims{}, ErrMalformed.wrap(fmt.Errorf("token has %d bytes, over %d", len(token), MaxTokenLen))
	}
	mc := jwt.MapClaims{}
	p := jwt.NewParser(
		jwt.WithValidMethods(v.methods),
		jwt.WithJSONNumber(),
		jwt.WithStrictDecoding(),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	tok, err := p.ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) {
		return v.key(ctx, t)
	})
	if err != nil {
		return Claims{}, v.classify(err, tok, mc)
	}
	sub, err := mc.GetSubject()
	if err != nil {
		return Claims{}, ErrMalformed.wrap(err)
	}
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		// The validator has required exp already; this is belt and braces.
		return Claims{}, ErrMissingExp.wrap(err)
	}
	return Claims{Issuer: v.issuer, Subject: sub, ExpiresAt: exp.Time, all: mc}, nil
}

// key is the jwt.Keyfunc of Verify: it runs after the alg passed
// jwt.WithValidMethods and before the signature is checked.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, ErrMalformed.wrap(errors.New(`header "crit" not supported`))
	}
	alg := t.Method.Alg()
	if v.jwks == nil {
		if !v.static.allows(alg) {
			return nil, ErrAlgorithm.wrap(fmt.Errorf("alg %.32q not allowed", alg))
		}
		return v.static.pub, nil
	}
	var kid string
	if raw, ok := t.Header["kid"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, ErrMalformed.wrap(errors.New("kid is not a string"))
		}
		kid = s
	}
	return v.jwks.key(ctx, kid, alg)
}

// classify maps a golang-jwt error to one of the sentinels.
func (v *Verifier) classify(err error, tok *jwt.Token, mc jwt.MapClaims) error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e // from key, with its cause
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed.wrap(err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// alg missing, not a string, or unknown to golang-jwt.
		return ErrAlgorithm.wrap(err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// golang-jwt reports an alg outside WithValidMethods as an invalid
		// signature; tell the two apart.
		if tok != nil && tok.Method != nil && !slices.Contains(v.methods, tok.Method.Alg()) {
			return ErrAlgorithm.wrap(err)
		}
		return ErrSignature.wrap(err)
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return classifyClaims(err, mc)
	}
	return ErrMalformed.wrap(err)
}

// classifyClaims picks the first failed check among the claims, in the order
// Verify documents. golang-jwt reports every missing required claim with the
// same error, so the claims themselves say which one is missing.
func classifyClaims(err error, mc jwt.MapClaims) error {
	missing := errors.Is(err, jwt.ErrTokenRequiredClaimMissing)
	iss, _ := mc.GetIssuer()
	aud, _ := mc.GetAudience()
	switch {
	case errors.Is(err, jwt.ErrInvalidType):
		return ErrMalformed.wrap(err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), missing && iss == "":
		return ErrIssuer.wrap(err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience), missing && (len(aud) == 0 || len(aud) == 1 && aud[0] == ""):
		return ErrAudience.wrap(err)
	case missing:
		return ErrMissingExp.wrap(err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired.wrap(err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid.wrap(err)
	}
	return ErrMalformed.wrap(err)
}

// Claims are the claims of a verified token.
type Claims struct {
	// Issuer is the token's iss: always Config.Issuer.
	Issuer string
	// Subject is the token's sub, "" when absent.
	Subject string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time

	all map[string]any
}

// maxExpandedExp bounds the exponent String expands: a claim such as 1e999999
// must not become a megabyte of zeros.
const maxExpandedExp = 100

// String returns the claim name as a string: a string as is, a number in
// plain decimal notation, a boolean as "true" or "false", and "" when the
// claim is absent, null, an object or an array. Numbers keep every digit
// (12345678901234567890 comes out as is, not as a float64 would); a number
// written with an exponent is expanded (1.5e3 is "1500") unless the exponent
// exceeds 100 in magnitude, in which case it is returned as written.
func (c Claims) String(name string) string {
	switch x := c.all[name].(type) {
	case string:
		return x
	case json.Number:
		return plainNumber(string(x))
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// plainNumber rewrites a JSON number literal without exponent.
func plainNumber(lit string) string {
	i := strings.IndexAny(lit, "eE")
	if i < 0 {
		return lit
	}
	mant := lit[:i]
	exp, err := strconv.Atoi(lit[i+1:])
	if err != nil || exp > maxExpandedExp || exp < -maxExpandedExp {
		return lit
	}
	sign := ""
	if strings.HasPrefix(mant, "-") {
		sign, mant = "-", mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	point := len(intPart) + exp // position of the decimal point in digits
	var s string
	switch {
	case point <= 0:
		s = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		s = digits + strings.Repeat("0", point-len(digits))
	default:
		s = digits[:point] + "." + digits[point:]
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if t := strings.TrimLeft(s, "0"); t == "" || t[0] == '.' {
		s = "0" + t
	} else {
		s = t
	}
	if s == "0" {
		return s
	}
	return sign + s
}

// LooksLikeJWT reports whether s has the shape of a compact JWS: a non-empty
// header and payload and a signature, each base64url without padding,
// separated by two dots, and no longer than MaxTokenLen. It does no decoding
// and no crypto; it lets a caller route a bearer credential to Verify. An
// empty signature still looks like a JWT (an unsecured one, which Verify
// rejects with ErrAlgorithm).
func LooksLikeJWT(s string) bool {
	if len(s) > MaxTokenLen {
		return false
	}
	dots, segLen := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if segLen == 0 || dots == 2 {
				return false
			}
			dots++
			segLen = 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			segLen++
		default:
			return false
		}
	}
	return dots == 2
}
