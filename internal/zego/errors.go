package zego

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
)

// Code is a return code of ZEGO's server API: a call's Code or a batch
// item's SubCode. 0 is success.
type Code int64

// The codes authsvc acts on. ZEGO documents them per action; the full table
// is ZEGO's "return codes" page.
const (
	CodeOK                Code = 0
	CodeSignatureExpired  Code = 100000004 // Timestamp too far from ZEGO's clock
	CodeSignatureWrong    Code = 100000005 // Signature does not match
	CodeInvalidParameter  Code = 660000002 // a parameter is malformed
	CodeUserIDTooLong     Code = 660000012 // UserId over 32 bytes
	CodeAppRateLimited    Code = 660300005 // over the app's call rate
	CodeRateLimited       Code = 660700001 // over 20 calls per second
	CodeUserExists        Code = 660700002 // UserRegister: already registered
	CodeUserNameTooLong   Code = 660700006 // UserName over 256 bytes
	CodeUserAvatarTooLong Code = 660700007 // UserAvatar over 500 bytes
	CodeUserNotRegistered Code = 660700012 // ModifyUserInfo: not registered
	codeQueryUserFailed   Code = 660700013 // ZEGO's own failures, which the
	codeSyncUserFailed    Code = 660700016 // docs say to report to support:
	codeUpdateUserFailed  Code = 660700017 // retried like a 5xx
)

// RateLimited reports whether ZEGO refused the call for its call rate.
func (c Code) RateLimited() bool { return c == CodeRateLimited || c == CodeAppRateLimited }

// AlreadyExists reports whether UserRegister found the user registered,
// which a sync turns into a ModifyUserInfo.
func (c Code) AlreadyExists() bool { return c == CodeUserExists }

// NotRegistered reports whether ModifyUserInfo found no such ZIM user,
// which a sync turns into a UserRegister.
func (c Code) NotRegistered() bool { return c == CodeUserNotRegistered }

// PermanentItem reports whether ZEGO refused a user's data itself (a name,
// avatar or ID too long): sending the same data again fails again.
func (c Code) PermanentItem() bool {
	return c == CodeUserNameTooLong || c == CodeUserAvatarTooLong || c == CodeUserIDTooLong
}

// Signature reports whether ZEGO refused the signature: expired means our
// clock is off by more than ten minutes, wrong means the AppID or
// ServerSecret do not match.
func (c Code) Signature() bool { return c == CodeSignatureExpired || c == CodeSignatureWrong }

// transient reports the codes of ZEGO's own failures.
func (c Code) transient() bool {
	return c == codeQueryUserFailed || c == codeSyncUserFailed || c == codeUpdateUserFailed
}

// ErrInvalidRequest is returned, wrapped, before anything is sent, for
// arguments ZEGO would refuse as a whole: an empty or oversized batch, a
// missing room ID, a reason over its limit.
var ErrInvalidRequest = errors.New("zego: invalid request")

// ErrMalformedResponse is the cause inside an *Error when ZEGO's answer is
// not the JSON it documents or exceeds MaxResponseBytes.
var ErrMalformedResponse = errors.New("malformed response")

// ItemError is one entry of a batch's ErrorList: the user ZEGO refused and
// why.
type ItemError struct {
	UserID     string
	SubCode    Code
	SubMessage string
}

// Error is a failed call. Exactly one of these holds: Code is ZEGO's
// non-zero return code; or Status is an HTTP status other than 200 without
// a ZEGO answer; or Err is the transport or decoding failure (with Status
// set when an answer arrived). It never holds the ServerSecret, the
// signature or the request URL.
type Error struct {
	Action    string
	Status    int    // HTTP status, 0 when no answer arrived
	Code      Code   // ZEGO's Code, 0 when ZEGO gave none
	Message   string // ZEGO's Message
	RequestID string // ZEGO's RequestId, for ZEGO support
	// Items is the ErrorList of a batch that failed for every user.
	Items []ItemError
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("zego ")
	b.WriteString(e.Action)
	b.WriteString(": ")
	switch {
	case e.Code != 0:
		b.WriteString("code ")
		b.WriteString(strconv.FormatInt(int64(e.Code), 10))
		if e.Message != "" {
			b.WriteString(" (")
			b.WriteString(e.Message)
			b.WriteString(")")
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
		if e.Status != 0 {
			b.WriteString(" (HTTP ")
			b.WriteString(strconv.Itoa(e.Status))
			b.WriteString(")")
		}
	default:
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.RequestID != "" {
		b.WriteString(", request ")
		b.WriteString(e.RequestID)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// RateLimited reports whether err is ZEGO refusing a call for its rate,
// by code or by HTTP 429.
func RateLimited(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code.RateLimited() || (e.Code == 0 && e.Status == 429)
}

// Transient reports whether the same call may succeed later unchanged:
// ZEGO's rate limit, an HTTP 5xx or 429, a timeout, a network failure, a
// garbled answer, or one of ZEGO's internal failure codes. A caller's own
// cancellation is not transient, nor is ErrInvalidRequest, a signature
// refusal or a refusal of the data.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalidRequest) {
		return false
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Code != 0 {
		return e.Code.RateLimited() || e.Code.transient()
	}
	if e.Status >= 500 || e.Status == 429 {
		return true
	}
	if e.Err == nil {
		return false
	}
	if errors.Is(e.Err, ErrMalformedResponse) || errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(e.Err, &ne) {
		return true
	}
	// Anything else the transport reports (connection reset, EOF mid-answer)
	// is the network's failure, not the request's.
	return e.Status == 0
}
