package zimsync

import "context"

// Sender is what the Worker needs of a client of one app's ZIM server API.
// Both methods take at most 100 users (ZEGO's batch limit) and answer with
// one Result per user, in any order; a user without a Result is retried as
// a transient failure. An error means the call failed as a whole with
// nothing known of any user (a network failure, a timeout, a 5xx); a call
// ZEGO refused as a whole with a code (over the rate limit, say) is a
// Result with that outcome for every user instead. Errors and messages
// must never carry the ServerSecret or a request's signature: the Worker
// logs them.
type Sender interface {
	// Register is UserRegister: UserId, UserName, UserAvatar (ZIM takes
	// no extra data on register).
	Register(ctx context.Context, users []Profile) ([]Result, error)
	// Modify is ModifyUserInfo: UserId, UserName, UserAvatar, Extra.
	Modify(ctx context.Context, users []Profile) ([]Result, error)
}

// Profile is what ZIM keeps of a user.
type Profile struct {
	UserID string
	Name   string
	Avatar string
	Extra  string // the user's extendedData
}

// Outcome classifies ZEGO's answer for one user.
type Outcome int

const (
	// OK: ZIM took the profile.
	OK Outcome = iota
	// Exists: register found the user already registered (660700002).
	Exists
	// NotRegistered: modify found no such user in ZIM (660700012).
	NotRegistered
	// RateLimited: over ZEGO's call rate (660700001, 660300005).
	RateLimited
	// Permanent: ZIM refuses this profile (660700007 avatar too long, ...);
	// sending it again cannot help.
	Permanent
	// Transient: sending again later may succeed (ZEGO unreachable, a
	// 5xx, a code known to pass).
	Transient
	// Unclassified: ZEGO answered a code the sender cannot classify. It
	// is retried like Transient, but a user that keeps getting
	// Unclassified answers is parked in the end, like a Permanent refusal.
	Unclassified
)

// Result is ZEGO's answer for one user.
type Result struct {
	UserID  string
	Outcome Outcome
	Code    int64  // ZEGO's code, 0 if none
	Message string // ZEGO's message, for the row's last error and the log
}
