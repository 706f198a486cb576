package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Identity is a subject of an external identity provider, to resolve to
// the user it stands for.
type Identity struct {
	Issuer, Subject string
	// Candidate is the userID the subject is linked to when it is first
	// seen; it must satisfy the userID rule. Later resolutions return the
	// linked userID whatever Candidate says, so a subject's userID never
	// changes, even when the rule that derives candidates does.
	Candidate string
	// Provision creates the linked user when there is none, named Name.
	Provision bool
	// Name is the name of a provisioned user. One that breaks the name rule
	// is dropped, so the name defaults to the userID: a provider's display
	// name is not the user's to fix.
	Name string
}

// UnregisteredError means an identity's subject is linked to a userID that
// has no user, and Identity.Provision was off. The link stays: once the
// user is created, the subject resolves to it.
type UnregisteredError struct {
	ID string // the linked userID
}

func (e *UnregisteredError) Error() string { return fmt.Sprintf("user %q is not registered", e.ID) }

// ResolveIdentity returns the user that id's subject is linked to, linking
// it to id.Candidate on first sight and creating the user when id.Provision
// asks for it; created reports that this call created it. A disabled user
// is returned as it is, neither re-created nor re-enabled: the caller
// decides what disabled means for it. It fails with
// an *InvalidError when an unlinked subject's candidate breaks the userID
// rule and an *UnregisteredError when there is no user to return.
//
// Linking and provisioning happen in one write transaction, so concurrent
// first resolutions of one subject agree on one userID and create its user
// once. A subject already linked to an existing user costs two reads and no
// write; the user comes through Get's cache.
func (s *Store) ResolveIdentity(ctx context.Context, id Identity) (u User, created bool, err error) {
	// Links are never changed or removed, so the link and the user read
	// apart are as consistent as read together.
	userID, err := linkedID(ctx, s.db.Reader, id)
	switch {
	case err == nil:
		u, err := s.Get(ctx, userID)
		switch {
		case err == nil:
			return u, false, nil
		case !errors.Is(err, ErrNotFound):
			return User{}, false, fmt.Errorf("resolve identity: %w", err)
		case !id.Provision:
			return User{}, false, &UnregisteredError{ID: userID}
		}
	case !errors.Is(err, sql.ErrNoRows):
		return User{}, false, fmt.Errorf("resolve identity: %w", err)
	}
	return s.linkAndProvision(ctx, id)
}

// linkedID returns the userID the subject is linked to, or sql.ErrNoRows.
func linkedID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id Identity) (string, error) {
	var userID string
	err := q.QueryRowContext(ctx,
		`SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2`, id.Issuer, id.Subject).Scan(&userID)
	return userID, err
}

// linkAndProvision is ResolveIdentity's write path, for a subject not yet
// linked or a linked user to provision.
func (s *Store) linkAndProvision(ctx context.Context, id Identity) (u User, created bool, err error) {
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return User{}, false, fmt.Errorf("resolve identity: %w", err)
	}
	defer tx.Rollback()

	// Another transaction may have linked the subject since the read. ON
	// CONFLICT DO NOTHING covers one that commits between this SELECT and
	// the INSERT, where the write lock is not taken up front (PostgreSQL);
	// the SELECT after it reads whichever link won.
	userID, err := linkedID(ctx, tx, id)
	if errors.Is(err, sql.ErrNoRows) {
		if err := ValidateID(id.Candidate); err != nil {
			return User{}, false, invalid(addField(nil, err))
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (issuer, subject) DO NOTHING`,
			id.Issuer, id.Subject, id.Candidate, s.timestamp().UnixMicro()); err != nil {
			return User{}, false, fmt.Errorf("resolve identity: link: %w", err)
		}
		userID, err = linkedID(ctx, tx, id)
	}
	if err != nil {
		return User{}, false, fmt.Errorf("resolve identity: %w", err)
	}
	defer s.cache.evict(userID) // after the commit (or the rollback)

	// Locked, on PostgreSQL, so that the user returned is not deleted
	// before the commit.
	u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.db.ForUpdate(), userID))
	switch {
	case errors.Is(err, sql.ErrNoRows) && id.Provision:
		if u, created, err = s.provision(ctx, tx, userID, id.Name); err != nil {
			return User{}, false, err
		}
	case errors.Is(err, sql.ErrNoRows):
		if err := tx.Commit(); err != nil { // the link stays
			return User{}, false, fmt.Errorf("resolve identity: %w", err)
		}
		return User{}, false, &UnregisteredError{ID: userID}
	case err != nil:
		return User{}, false, fmt.Errorf("resolve identity: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return User{}, false, fmt.Errorf("resolve identity: %w", err)
	}
	return u, created, nil
}

// provision creates the user userID, without a password, inside tx, and
// returns the user as stored, and whether it created it. A user created
// meanwhile by a transaction that did not wait for this one's lock
// (PostgreSQL) is returned as it is, not created.
func (s *Store) provision(ctx context.Context, tx *sql.Tx, userID, name string) (User, bool, error) {
	if ValidateName(name) != nil {
		name = ""
	}
	row, err := s.newRow(userID, CreateParams{ID: userID, Name: name}, sql.NullString{}, s.timestamp())
	if err != nil {
		return User{}, false, fmt.Errorf("resolve identity: provision %q: %w", userID, err)
	}
	res, err := tx.ExecContext(ctx, insertUser+` ON CONFLICT (id) DO NOTHING`, insertArgs(row, sql.NullString{})...)
	if err != nil {
		return User{}, false, fmt.Errorf("resolve identity: provision %q: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return User{}, false, fmt.Errorf("resolve identity: provision %q: %w", userID, err)
	}
	if n == 1 && s.onChange != nil {
		if err := s.onChange(ctx, tx, userID); err != nil {
			return User{}, false, fmt.Errorf("resolve identity: provision %q: %w", userID, err)
		}
	}
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.db.ForUpdate(), userID))
	if err != nil {
		return User{}, false, fmt.Errorf("resolve identity: provision %q: %w", userID, err)
	}
	return u, n == 1, nil
}
