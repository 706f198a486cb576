package api

import (
	"errors"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// User is a user as the API and the CLI's --json output show it. Times are
// RFC 3339 in UTC, to the second (see FormatTime).
type User struct {
	UserID       string `json:"userID"`
	UserName     string `json:"userName"`
	AvatarURL    string `json:"avatarURL"`
	ExtendedData string `json:"extendedData"`
	Disabled     bool   `json:"disabled"`
	CreatedAt    string `json:"createdAt"`
	UpdatedAt    string `json:"updatedAt"`
	// Online and LastSeenAt are what ZIM's login callbacks said of the
	// user; only GET /v1/users/{userID} shows them.
	Online     *bool  `json:"online,omitempty"`
	LastSeenAt string `json:"lastSeenAt,omitempty"`
	// ZIMSync is where the user stands with the ZIM of each app that keeps
	// ZIM in step; only GET /v1/users/{userID} shows it.
	ZIMSync []ZIMSyncState `json:"zimSync,omitempty"`
}

// ZIMSyncState is a user's sync state with one app's ZIM.
type ZIMSyncState struct {
	AppID uint32 `json:"appID"`
	// State is "pending" (a change waits to be sent, or is retried),
	// "synced" (ZIM took the profile at SyncedAt, and every change made
	// since with sync on was sent), "failed" (ZIM
	// refused it for good with Code; the next change of the user tries
	// again) or "unknown" (created before sync was on; see authsvc zim
	// sync).
	State    string `json:"state"`
	SyncedAt string `json:"syncedAt,omitempty"`
	Code     int64  `json:"code,omitempty"`
}

// UserList is a page of users; Next is the cursor of the next page, empty
// on the last one. Total counts every user in the registry, whatever the
// page and prefix.
type UserList struct {
	Users []User `json:"users"`
	Next  string `json:"next"`
	Total int64  `json:"total"`
}

// NewUser is a user to create: the body of POST /v1/users, an element of
// an import request, and a line of the CLI's import file.
type NewUser struct {
	// UserID is nil when the field is left out: only then is an ID
	// assigned. An explicit "" is a mistake, such as an unset variable in
	// a script, and must not create a user with a random ID.
	UserID       *string `json:"userID"`
	UserName     string  `json:"userName"`
	Password     string  `json:"password"`
	AvatarURL    string  `json:"avatarURL"`
	ExtendedData string  `json:"extendedData"`
}

// ImportRequest is the body of POST /v1/users/import.
type ImportRequest struct {
	Users []NewUser `json:"users"`
}

// FieldProblem is one reason a request, or an imported user, is invalid.
type FieldProblem struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ImportResult is what became of one imported user.
type ImportResult struct {
	UserID string        `json:"userID"`
	Status string        `json:"status"`
	Error  *FieldProblem `json:"error,omitempty"`
}

// ImportResponse lists the results of an import, in the order of the request.
type ImportResponse struct {
	Results []ImportResult `json:"results"`
}

// FormatTime is how the API writes a time: RFC 3339, UTC, whole seconds.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ErrNull marks a JSON null where the contract has no nullable value.
var ErrNull = errors.New("null is not allowed here")

// Strict are the decoding options of every request body and import line,
// on top of go-json-experiment/json's defaults (names matched
// case-sensitively and only once, strings valid UTF-8 with no lone
// surrogates): unknown members are refused, and so is null except where
// the contract says a value is nullable (room.streamIDs). Without that,
// null would silently mean "the zero value", and {"userID": null} on create
// would assign an ID.
//
// encoding/json cannot do this: it folds case (even "diſabled" matches
// "disabled"), keeps the last of duplicate names and replaces invalid UTF-8
// with U+FFFD.
var Strict = json.JoinOptions(json.RejectUnknownMembers(true),
	json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, v any) error {
		if dec.PeekKind() != 'n' {
			return errors.ErrUnsupported
		}
		if _, list := v.(*[]string); list && dec.StackPointer().LastToken() == "streamIDs" {
			return errors.ErrUnsupported
		}
		return ErrNull
	})))
