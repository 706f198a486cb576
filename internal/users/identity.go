package users

import (
	"context"
	"fmt"
)

// LinkIdentity returns the userID stored for the identity provider subject
// (issuer, subject). The first call stores candidate, which must satisfy
// the userID rule; later calls return what was stored then, so a subject's
// userID never changes. Concurrent first calls agree on one answer.
func (s *Store) LinkIdentity(ctx context.Context, issuer, subject, candidate string) (string, error) {
	var id string
	err := s.db.Reader.QueryRowContext(ctx,
		`SELECT user_id FROM identities WHERE issuer = ? AND subject = ?`, issuer, subject).Scan(&id)
	if err == nil {
		return id, nil
	}
	if err := ValidateID(candidate); err != nil {
		return "", invalid(addField(nil, err))
	}
	// ON CONFLICT DO NOTHING is understood by SQLite and PostgreSQL alike;
	// the SELECT after it reads whichever insert won.
	if _, err := s.db.Writer.ExecContext(ctx,
		`INSERT INTO identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (issuer, subject) DO NOTHING`,
		issuer, subject, candidate, s.timestamp().UnixMicro()); err != nil {
		return "", fmt.Errorf("link identity: %w", err)
	}
	if err := s.db.Writer.QueryRowContext(ctx,
		`SELECT user_id FROM identities WHERE issuer = ? AND subject = ?`, issuer, subject).Scan(&id); err != nil {
		return "", fmt.Errorf("link identity: %w", err)
	}
	return id, nil
}
