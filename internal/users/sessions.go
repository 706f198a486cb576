package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// pruneRevoked is how many expired revocations one logout deletes: more than
// a logout adds, so the table still shrinks to one session lifetime's worth.
const pruneRevoked = 100

// revocationMargin keeps a revoked session's row a little past its expiry,
// so that a clock read just before the expiry second still finds it.
const revocationMargin = time.Minute

// RevokeSession records that the session token with the given ID (its jti)
// is no longer valid, until it expires anyway. Revoking an ID twice is
// harmless. Rows of expired sessions are pruned in the same transaction, so
// the list holds at most one session lifetime's revocations.
func (s *Store) RevokeSession(ctx context.Context, id string, expires time.Time) error {
	if id == "" {
		return errors.New("revoke session: empty ID")
	}
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	defer tx.Rollback()
	// A bounded prune of rows nobody else is pruning: logouts on several
	// replicas at once must not queue on the same expired rows.
	cutoff := s.now().Add(-revocationMargin).Unix()
	if _, err := tx.ExecContext(ctx, `DELETE FROM revoked_sessions WHERE id IN (
		SELECT id FROM revoked_sessions WHERE expires_at < $1 LIMIT `+strconv.Itoa(pruneRevoked)+s.db.SkipLocked()+`)`, cutoff); err != nil {
		return fmt.Errorf("revoke session: prune: %w", err)
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO revoked_sessions (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		id, expires.Unix())
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("revoke session: commit: %w", err)
	}
	return nil
}

// SessionRevoked reports whether RevokeSession has recorded the session ID.
// It always reads the database: callers cache the answer for tokens they
// have checked and forget it when they revoke one.
func (s *Store) SessionRevoked(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.db.Reader.QueryRowContext(ctx, `SELECT 1 FROM revoked_sessions WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check session revocation: %w", err)
	}
	return true, nil
}
