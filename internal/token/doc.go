// Package token mints and verifies ZEGO Token04 credentials, the tokens ZEGO's
// ZIM and RTC SDKs present to ZEGO's servers, signed with an app's 32-byte
// ServerSecret.
//
// The package is pure: it does no I/O and reads no clock. Time and randomness
// are arguments, so tests are deterministic and benchmarks measure only the
// work. Its only package state is immutable: error sentinels and lookup
// tables.
//
// # Format
//
// A token is "04" followed by the standard base64 encoding (with padding) of
//
//	expire              int64, big-endian, unix seconds
//	nonce length        uint16, big-endian
//	nonce               12 bytes (GCM) or 16 bytes (CBC IV), random
//	ciphertext length   uint16, big-endian
//	ciphertext
//	mode                one byte 0x01, GCM only
//
// The plaintext is a JSON object:
//
//	{"app_id":1,"user_id":"demo","nonce":-266389792,"ctime":1795633194,"expire":1795636794,"payload":""}
//
// where nonce is a random int32, ctime the issue time and expire ctime plus
// the effective time. The header's expire must equal the JSON one. Decoding
// accepts the fields in any order, ignores unknown ones and reads a missing
// payload as "". A body that is not valid UTF-8 or repeats a field is
// rejected: JSON readers disagree about those, and a token must mean one thing.
//
// # Variants
//
// GCM, the current variant and Mint's default, encrypts with AES-256-GCM under
// the secret's 32 bytes as they are, a fresh 12-byte nonce, no additional data,
// and appends the 16-byte tag to the ciphertext, then the mode byte 0x01.
//
// CBC, the legacy variant for old SDKs, encrypts with AES-256-CBC, a fresh
// 16-byte IV and PKCS#7 padding, and has no mode byte. Decoding tells the
// variants apart by layout: exactly one byte 0x01 after the ciphertext is GCM,
// nothing is CBC, anything else is malformed.
//
// New tokens should use GCM. CBC encrypts but does not authenticate: whoever
// holds a CBC token can flip bits of its IV and so change the first 16 bytes
// of the plaintext at will, `{"app_id":1234,"` included, and the token still
// decodes, with another appID. Flipping ciphertext bits garbles a block and
// controls the next one in the same way. The only checks left are the padding
// and the JSON syntax, which also makes a padding oracle of any server that
// answers differently to the two. GCM's tag rejects any change to the nonce,
// ciphertext or tag, and the header's expire is bound to the authenticated one
// by comparison, so every changed bit of a GCM token is rejected.
//
// # Errors
//
// Failures are *Error values with a stable Reason and the code a ZIM or RTC
// client would have reported for the same token:
//
//	Sentinel           Reason               ZIM      RTC
//	ErrMalformed       malformed            6000103  1002075
//	ErrVersion         unsupported_version  6000107  1002079
//	ErrBadSecret       bad_secret           6000103  1002075
//	ErrAppMismatch     app_mismatch         6000103  1002076
//	ErrUserMismatch    user_mismatch        6000103  1002077
//	ErrExpired         expired              6000106  1002078
//	ErrNotYetValid     issued_in_future     6000103  1002075
//	ErrTTLTooShort     ttl_too_short        6000108  -
//	ErrTTLTooLong      ttl_too_long         6000109  -
//	ErrInvalidAppID    invalid_app_id       -        1002076
//	ErrInvalidUserID   invalid_user_id      -        1002077
//	ErrInvalidPayload  invalid_payload      -        -
//	ErrSecretLength    secret_length        -        -
//
// Match them with errors.Is; read Reason and the codes with errors.As. Error
// messages never contain a secret or a token.
package token
