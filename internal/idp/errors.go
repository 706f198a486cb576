package idp

// Error is a typed Verify failure. The sentinels below are the values Verify
// returns, usually wrapped with the cause; match them with errors.Is, or read
// Reason with errors.As. Neither the message nor the cause ever holds the
// token.
type Error struct {
	// Reason is a stable snake_case name, fit for a metrics label or an API
	// problem code.
	Reason string

	msg string
	err error
}

// Error returns "idp: " and a short description, then the cause if any.
func (e *Error) Error() string {
	s := "idp: " + e.msg
	if e.msg == "" {
		s = "idp: " + e.Reason
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Unwrap returns the cause: an error of golang-jwt or of the key lookup.
func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is the sentinel for e's Reason, so that
// errors.Is(err, ErrExpired) holds for every expired token whatever the cause.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.err == nil && t.Reason == e.Reason
}

// wrap returns a copy of the sentinel e with cause err.
func (e *Error) wrap(err error) *Error {
	return &Error{Reason: e.Reason, msg: e.msg, err: err}
}

// Sentinel errors, one per Reason.
var (
	// ErrMalformed: not a JWT (wrong shape, bad base64 or JSON, a registered
	// claim of the wrong type, a header Verify does not understand such as
	// "crit"), or longer than MaxTokenLen.
	ErrMalformed = &Error{Reason: "malformed", msg: "token malformed"}
	// ErrAlgorithm: the token's alg is not one the configured key allows:
	// "none", an HMAC alg against a public key, an RSA alg against an EC key,
	// ES384 against a P-256 key, or an alg other than the one a JWK names.
	ErrAlgorithm = &Error{Reason: "algorithm", msg: "token algorithm not allowed"}
	// ErrSignature: the signature does not verify: the token was tampered
	// with or signed by another key.
	ErrSignature = &Error{Reason: "signature", msg: "token signature invalid"}
	// ErrUnknownKey: the token's kid is not in the JWKS, even after a
	// refetch, or the token has no kid and the JWKS has more than one key.
	ErrUnknownKey = &Error{Reason: "unknown_key", msg: "token signing key unknown"}
	// ErrExpired: exp is not after now minus the leeway.
	ErrExpired = &Error{Reason: "expired", msg: "token expired"}
	// ErrNotYetValid: nbf or iat is later than now plus the leeway.
	ErrNotYetValid = &Error{Reason: "not_yet_valid", msg: "token not yet valid"}
	// ErrMissingExp: the token has no exp; tokens that never expire are
	// refused.
	ErrMissingExp = &Error{Reason: "missing_exp", msg: "token has no exp"}
	// ErrIssuer: iss is absent or is not the configured Issuer.
	ErrIssuer = &Error{Reason: "issuer", msg: "token issuer not accepted"}
	// ErrAudience: aud is absent or does not contain the configured Audience.
	ErrAudience = &Error{Reason: "audience", msg: "token audience not accepted"}
)
