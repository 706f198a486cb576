package httpapi

import (
	"errors"
	"net/http"

	"authsvc/internal/audit"
	"authsvc/internal/idp"
)

var errNotASession = newProblem(http.StatusForbidden, codeNotASession,
	"this route ends the session token it is called with; admin keys and identity provider tokens are not sessions")

// endSession logs a user out: it revokes the session token presented as
// the bearer credential, and only that one; the user's other sessions keep
// working. It authenticates for itself, because the answer depends on the
// kind of credential, and because ending a session that has already ended
// (revoked, or its user disabled) is a success, not a 401.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	cred, ok := bearer(r)
	if !ok {
		return errNoCredential
	}
	creds := s.creds.Load()
	if _, ok := creds.admin(cred); ok {
		return errNotASession
	}
	ctx := r.Context()
	now := s.now()
	c, err := parseSession(creds.SessionKey, cred, now)
	if err != nil {
		if creds.IdP != nil && idp.LooksLikeJWT(cred) {
			_, err := creds.IdP.Verifier.Verify(ctx, cred, now)
			var ie *idp.Error
			switch {
			case err == nil:
				return errNotASession
			case !errors.As(err, &ie):
				return err
			}
		}
		return errNoCredential
	}
	// A repeated logout writes nothing and records nothing, so replaying
	// one costs a read, not a write and an audit row each time.
	gone, err := s.store.SessionRevoked(ctx, c.ID)
	if err != nil {
		return err
	}
	if gone {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err := s.store.RevokeSession(ctx, c.ID, c.ExpiresAt.Time); err != nil {
		return err
	}
	// Now that the revocation is durable, no cache may answer for the
	// token: neither the one it was checked with nor, after a reload
	// meanwhile, the current one.
	creds.sessions.forget(cred)
	if cur := s.creds.Load(); cur != creds {
		cur.sessions.forget(cred)
	}
	s.record(r, audit.Event{Kind: audit.SessionRevoked, UserID: c.Subject, Actor: "user:" + c.Subject})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
