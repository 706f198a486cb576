// Package audit is the audit trail: who was issued or refused a token, who
// failed to log in, and which admin changed which user. A Recorder takes
// events off the request path and writes them in batches; List reads them
// back, newest first.
package audit

import (
	"time"
)

// Event is one audited action.
//
// An Event never holds a token, a password, a secret or a key, nor anything
// derived from one (a hash, a prefix): the trail is read by admins and kept
// for weeks, so it must be safe to show. Reason is a fixed, short
// explanation ("expired", "bad signature"), never a value taken from the
// request.
type Event struct {
	// ID is assigned by the store: it orders events of the same microsecond
	// and is the pagination cursor. Record ignores it.
	ID int64
	// Time is when it happened: Record sets it from the Recorder's clock
	// when it is zero. It is stored in UTC to the microsecond.
	Time time.Time
	// Event is what happened: one of the constants of this package.
	Event string
	// AppID is the app of the token, 0 when the event is not about a token.
	AppID uint32
	// UserID is the user concerned, "" when unknown.
	UserID string
	// Actor is who asked: "admin:<key label>", "user:<userID>" or
	// "idp:<issuer>#<subject>".
	Actor     string
	ClientIP  string
	RequestID string
	// Expire is the token's expiry in Unix seconds, 0 when none.
	Expire int64
	// Nonce is the token's nonce, nil when none. It must not change after
	// the event is recorded: the Recorder reads it when it writes.
	Nonce *int32
	// Reason is why something failed, or a short detail, "" when none.
	Reason string
}

// Events, the values of Event.Event.
const (
	TokenIssued       = "token.issued"
	TokenRenewed      = "token.renewed"
	TokenRenewFailed  = "token.renew_failed"
	TokenVerifyFailed = "token.verify_failed"
	SessionFailed     = "session.failed" // a failed login
	UserCreated       = "user.created"
	UserUpdated       = "user.updated"
	UserDisabled      = "user.disabled"
	UserEnabled       = "user.enabled"
	UserDeleted       = "user.deleted"
	UserImported      = "user.imported"
)

// knownEvent reports whether name is one of the events above.
func knownEvent(name string) bool {
	switch name {
	case TokenIssued, TokenRenewed, TokenRenewFailed, TokenVerifyFailed, SessionFailed,
		UserCreated, UserUpdated, UserDisabled, UserEnabled, UserDeleted, UserImported:
		return true
	}
	return false
}
