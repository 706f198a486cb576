// Package idp verifies JSON Web Tokens issued by a business's own identity
// provider (Firebase, Auth0, Keycloak, Cognito, a home-grown one), so that
// its users can obtain ZEGO tokens without a password of ours. It also
// derives a userID within the ZIM rule from a provider subject (HashUserID).
//
// Parsing and signature checks are golang-jwt/jwt/v5's; this package decides
// which keys and algorithms to trust and reads JWK Sets with the standard
// library only.
//
// # Pinned algorithms
//
// A JWT names its own algorithm in its header, and the header is written by
// whoever wrote the token. Verify therefore never lets the token choose the
// kind of key: the configured key fixes the set of algorithms, passed to
// golang-jwt as jwt.WithValidMethods before any key is looked up:
//
//	HMAC secret    HS256
//	RSA key        RS256 RS384 RS512 PS256 PS384 PS512
//	ECDSA P-256    ES256 (P-384: ES384, P-521: ES512)
//	Ed25519 key    EdDSA
//
// "none" is in no set, so unsigned tokens fail with ErrAlgorithm, as does a
// token whose alg belongs to another kind of key. A JWK with an "alg" member
// narrows its key to that one algorithm.
//
// # Key confusion
//
// The classic attack on JWT libraries takes the provider's public key, which
// is public, uses its PEM bytes as an HMAC secret to sign a token with HS256,
// and hopes the verifier feeds "the key" to whatever alg the header names.
// Here a public key never allows an HMAC algorithm, and the key handed to
// golang-jwt is a typed *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
// (never bytes), so such a token fails with ErrAlgorithm. A JWKS key of kty
// "oct" is ignored: a secret published at a URL is no secret. New refuses an
// HMACSecret that contains a PEM block, the misconfiguration that would make
// the attack work.
//
// Keys come only from Config: the header members jku, x5u, jwk and x5c,
// which would let a token bring its own key, are never read. A token with a
// "crit" header is refused, as RFC 7515 requires of extensions one does not
// implement.
//
// # JWKS refresh
//
// New fetches the JWKS once; Verify picks the key by the token's kid. A kid
// not in the set usually means the provider rotated its keys, so Verify
// refetches the set — but kids are chosen by whoever sends a token, so a
// flood of made-up kids must not become a flood of requests to the provider.
// Refetches are therefore rate-limited to one per Config.JWKSMinRefresh, and
// shared: callers arriving while a refetch is in flight wait for that one
// (within their context) instead of starting another. The refetch runs
// detached from the caller who triggered it, bounded by its own timeout. A
// failed refetch is logged at warn and the previous keys stay in use, so a
// provider outage does not lock out users whose tokens are signed with known
// keys. Keys older than Config.JWKSMaxAge are refetched in the background,
// so a key the provider withdrew stops working within that time.
//
// JWKS keys are validated before use: RSA moduli of 2048 to 8192 bits with
// an odd exponent, EC points on their curve at the right length, Ed25519
// keys of 32 bytes. Keys whose "use" is not "sig", whose "key_ops" lacks
// "verify", or of unsupported types are skipped; the fetch fails if no key
// is left.
//
// # Claims
//
// exp is required: a token that never expires is refused. nbf and iat are
// checked when present. iss must equal Config.Issuer and aud must contain
// Config.Audience; both are required settings, since a token issued by the
// same provider for another application must not open ours. Numeric claims
// are decoded as json.Number, so a numeric user ID of 20 digits keeps them
// all.
//
// The package keeps no global state; a Verifier holds everything, and is
// safe for concurrent use.
package idp
