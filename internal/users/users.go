// Package users is the user registry: the accounts a business's apps log in
// with, their validation rules, the identity provider subjects linked to
// them, and their storage in the service's SQL database.
package users

import (
	"errors"
	"time"
)

// User is a stored user. It never carries the password or its hash.
type User struct {
	ID           string
	Name         string
	AvatarURL    string
	ExtendedData string
	Disabled     bool
	HasPassword  bool
	// SessionEpoch is random on create and replaced by a new random value
	// whenever the password changes or the user is disabled or re-enabled.
	// Session tokens embed it; a mismatch revokes them. It is random, not a
	// counter, so a user deleted and created again never revives old
	// sessions. It is never negative.
	SessionEpoch int64
	// CreatedAt and UpdatedAt are UTC, to the microsecond.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CreateParams are the fields of a user to create, for Create and Import.
type CreateParams struct {
	ID           string // "" = the store assigns one (Create only; Import needs it)
	Name         string // "" = defaults to the ID
	Password     string // "" = no password
	AvatarURL    string
	ExtendedData string
}

// Patch is a partial update of a user: nil fields stay unchanged.
type Patch struct {
	Name         *string // "" resets it to the ID
	Password     *string // "" removes the password
	AvatarURL    *string
	ExtendedData *string
	Disabled     *bool
}

// Page sizes of List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListOptions select a page of users, in byte order of their IDs.
type ListOptions struct {
	// After is the keyset cursor: only IDs greater than After. Pass the
	// previous Page's Next.
	After string
	// Prefix keeps only IDs that start with it, compared as bytes.
	Prefix string
	// Limit is the page size: 0 means DefaultListLimit; at most MaxListLimit.
	Limit int
}

// Page is one page of users.
type Page struct {
	Users []User
	// Next is the cursor for the next page, "" when this is the last one.
	Next string
}

// ImportStatus is the outcome of importing one user.
type ImportStatus string

// Outcomes of importing one user.
const (
	ImportCreated ImportStatus = "created" // the user was created
	ImportExists  ImportStatus = "exists"  // a user with this ID exists and was left as it was
	ImportInvalid ImportStatus = "invalid" // the item failed validation; see ImportResult.Err
)

// ImportResult is the outcome of importing one user.
type ImportResult struct {
	ID     string
	Status ImportStatus
	Err    error // the *InvalidError when Status is ImportInvalid
}

// MaxImport is the most users one Import call takes: one transaction that
// holds the write lock for a bounded time.
const MaxImport = 1000

// Errors that callers act on.
var (
	ErrNotFound           = errors.New("user not found")
	ErrExists             = errors.New("user already exists")
	ErrInvalidCredentials = errors.New("invalid credentials")
	ErrTooMany            = errors.New("too many users in one import")
)
