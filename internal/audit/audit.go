// Package audit is the audit trail: who was issued or refused a token, who
// failed to log in, and which admin changed which user. A Recorder takes
// events off the request path and writes them in batches; List reads them
// back, newest first.
package audit

import (
	"strings"
	"time"
	"unicode/utf8"
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
	// Kind is what happened: one of the constants of this package.
	Kind string
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
	// Count is how many times it happened in a row merged by Tally: 1 for
	// an event Recorded (Record sets 0 to 1).
	Count int64
}

// The most bytes each text field of an Event holds: Record and Tally cut
// longer values at a UTF-8 boundary, so that no request can make a row
// large. A user's ID is at most 32 bytes; an identity provider's issuer
// and subject come from its verified JWT.
const (
	MaxEventLen     = 64
	MaxUserIDLen    = 128
	MaxActorLen     = 512
	MaxClientIPLen  = 64
	MaxRequestIDLen = 128
	MaxReasonLen    = 256
)

// bound cuts e's text fields to their maximums, makes them storable, drops
// the monotonic clock reading of its time, and sets a missing Count.
func (e *Event) bound() {
	// The wall clock alone: time.Now's monotonic reading would order
	// events by Compare differently from the Unix times stored, when the
	// wall clock steps or a thread is preempted inside time.Now.
	e.Time = e.Time.Round(0)
	e.Kind = field(e.Kind, MaxEventLen)
	e.UserID = field(e.UserID, MaxUserIDLen)
	e.Actor = field(e.Actor, MaxActorLen)
	e.ClientIP = field(e.ClientIP, MaxClientIPLen)
	e.RequestID = field(e.RequestID, MaxRequestIDLen)
	e.Reason = field(e.Reason, MaxReasonLen)
	if e.Count < 1 {
		e.Count = 1
	}
}

// field returns s as a text field of at most n bytes of valid UTF-8 without
// NUL bytes, each invalid sequence or NUL replaced by U+FFFD. PostgreSQL
// refuses other text, and one refused event would fail its whole batch, so
// a client that got a stray byte into an event (the userID of a forged
// token, the subject of a JWT) could erase other clients' events. SQLite
// would store anything; both store the same. It cuts before replacing, so
// that the work is bounded by n, and after, since U+FFFD takes 3 bytes.
func field(s string, n int) string {
	s = truncate(s, n)
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	return truncate(s, n)
}

// truncate returns s cut to at most n bytes, and never inside a UTF-8
// sequence: it gives up at most utf8.UTFMax-1 bytes more, however many
// stray continuation bytes invalid input holds.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for i := n; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i]
		}
	}
	return s[:n]
}

// Events, the values of Event.Kind.
const (
	TokenIssued       = "token.issued"
	TokenRenewed      = "token.renewed"
	TokenRenewFailed  = "token.renew_failed"
	TokenVerifyFailed = "token.verify_failed"
	SessionCreated    = "session.created"      // a login
	SessionFailed     = "session.failed"       // a failed or refused login
	SessionRevoked    = "session.revoked"      // a logout
	PasswordFailed    = "user.password_failed" // a wrong or refused currentPassword
	UserCreated       = "user.created"
	UserUpdated       = "user.updated"
	UserDisabled      = "user.disabled"
	UserEnabled       = "user.enabled"
	UserDeleted       = "user.deleted"
	UserImported      = "user.imported"
	// ZIM's user_action callbacks: a session of the user logged in to ZIM,
	// logged out, or was disconnected. Actor is "zim".
	ZIMLogin        = "zim.login"
	ZIMLogout       = "zim.logout"
	ZIMDisconnected = "zim.disconnected"
	// The ZIM sync worker sent the user's profile to ZIM, which took it
	// (zim.synced) or refused it for good (zim.sync_failed, with ZEGO's
	// code as the reason). Actor is "zim-sync".
	ZIMSynced     = "zim.synced"
	ZIMSyncFailed = "zim.sync_failed"
)

// knownEvent reports whether name is one of the events above.
func knownEvent(name string) bool {
	switch name {
	case TokenIssued, TokenRenewed, TokenRenewFailed, TokenVerifyFailed, SessionCreated, SessionFailed,
		SessionRevoked, PasswordFailed, UserCreated, UserUpdated, UserDisabled, UserEnabled, UserDeleted, UserImported,
		ZIMLogin, ZIMLogout, ZIMDisconnected, ZIMSynced, ZIMSyncFailed:
		return true
	}
	return false
}
