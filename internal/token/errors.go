package token

import "strconv"

// Error is a typed token failure. It knows the error code a ZIM or RTC client
// would have reported for the same token, so an operator can match what an app
// saw with what authsvc says. The exported sentinels below are the only values
// the package returns, usually wrapped with detail; match them with errors.Is,
// or read the codes with errors.As.
type Error struct {
	// Reason is a stable snake_case name, fit for a metrics label or an API
	// response.
	Reason string
	// ZIMCode is the ZIM SDK error code for this failure, 0 when none applies.
	ZIMCode int
	// RTCCode is the RTC (Express) SDK error code, 0 when none applies.
	RTCCode int

	msg string
}

// Error returns a short description followed by the client error codes, for
// example "token expired (zim error 6000106, rtc error 1002078)".
func (e *Error) Error() string {
	s := e.msg
	if s == "" {
		s = "token: " + e.Reason
	}
	switch {
	case e.ZIMCode != 0 && e.RTCCode != 0:
		s += " (zim error " + strconv.Itoa(e.ZIMCode) + ", rtc error " + strconv.Itoa(e.RTCCode) + ")"
	case e.ZIMCode != 0:
		s += " (zim error " + strconv.Itoa(e.ZIMCode) + ")"
	case e.RTCCode != 0:
		s += " (rtc error " + strconv.Itoa(e.RTCCode) + ")"
	}
	return s
}

// ZIM and RTC client error codes, as documented by ZEGO.
const (
	zimInvalid  = 6000103 // token invalid
	zimExpired  = 6000106 // token expired
	zimVersion  = 6000107 // token version error
	zimTooShort = 6000108 // token expires in under 30 s
	zimTooLong  = 6000109 // token expires more than 24 days ahead
	rtcFormat   = 1002075 // token format error
	rtcAppID    = 1002076 // token appID error
	rtcUserID   = 1002077 // token userID error
	rtcExpired  = 1002078 // token expired
	rtcVersion  = 1002079 // token version error
)

// Sentinel errors. Failures of Decode and Verify say what a client would have
// rejected the token for; failures of Mint and NewKey say which input is wrong.
var (
	// ErrMalformed: not a Token04 (bad base64, bad layout or lengths, a header
	// expire that differs from the encrypted one, an authentic but unparsable
	// body).
	ErrMalformed = &Error{Reason: "malformed", ZIMCode: zimInvalid, RTCCode: rtcFormat, msg: "token malformed"}
	// ErrVersion: the version prefix is not "04".
	ErrVersion = &Error{Reason: "unsupported_version", ZIMCode: zimVersion, RTCCode: rtcVersion, msg: "token version unsupported"}
	// ErrBadSecret: no secret authenticates the token: it was minted with
	// another secret, or it was tampered with.
	ErrBadSecret = &Error{Reason: "bad_secret", ZIMCode: zimInvalid, RTCCode: rtcFormat, msg: "token not signed by this secret or tampered"}
	// ErrAppMismatch: the token is for another appID than expected.
	ErrAppMismatch = &Error{Reason: "app_mismatch", ZIMCode: zimInvalid, RTCCode: rtcAppID, msg: "token for another app"}
	// ErrUserMismatch: the token is for another userID than expected.
	ErrUserMismatch = &Error{Reason: "user_mismatch", ZIMCode: zimInvalid, RTCCode: rtcUserID, msg: "token for another user"}
	// ErrExpired: the token's expire is not after now.
	ErrExpired = &Error{Reason: "expired", ZIMCode: zimExpired, RTCCode: rtcExpired, msg: "token expired"}
	// ErrNotYetValid: the token's ctime lies more than ClockSkew in the future.
	ErrNotYetValid = &Error{Reason: "issued_in_future", ZIMCode: zimInvalid, RTCCode: rtcFormat, msg: "token issued in the future"}
	// ErrTTLTooShort: Mint was asked for an effective time under MinEffectiveTime.
	ErrTTLTooShort = &Error{Reason: "ttl_too_short", ZIMCode: zimTooShort, msg: "token lifetime too short"}
	// ErrTTLTooLong: Mint was asked for an effective time over MaxEffectiveTime.
	ErrTTLTooLong = &Error{Reason: "ttl_too_long", ZIMCode: zimTooLong, msg: "token lifetime too long"}
	// ErrInvalidAppID: Mint was given appID 0.
	ErrInvalidAppID = &Error{Reason: "invalid_app_id", RTCCode: rtcAppID, msg: "invalid app ID"}
	// ErrInvalidUserID: Mint was given a userID that is empty, longer than
	// MaxUserIDLen bytes or not valid UTF-8.
	ErrInvalidUserID = &Error{Reason: "invalid_user_id", RTCCode: rtcUserID, msg: "invalid user ID"}
	// ErrInvalidPayload: Mint was given a payload that is not valid UTF-8 or
	// too large for the format, or ParseRoom was given a string that is not a
	// room privilege payload. No client code applies: such a payload never
	// reaches a client.
	ErrInvalidPayload = &Error{Reason: "invalid_payload", msg: "invalid payload"}
	// ErrSecretLength: NewKey was given a secret that is not 32 bytes long.
	ErrSecretLength = &Error{Reason: "secret_length", msg: "server secret must be 32 bytes"}
)
