package httpapi

import (
	"net/http"

	"authsvc/internal/audit"
)

type sessionRequest struct {
	UserID   string `json:"userID"`
	Password string `json:"password"`
}

type sessionResponse struct {
	AccessToken string `json:"accessToken"`
	TokenType   string `json:"tokenType"`
	ExpiresIn   int64  `json:"expiresIn"`
	UserID      string `json:"userID"`
}

// createSession logs a user in with a password. Unknown users and wrong
// passwords get the same answer after the same work (users.CheckPassword
// hashes against a dummy when there is nothing to compare).
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var req sessionRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	err := s.login(w, r, req)
	if err != nil {
		s.record(r, audit.Event{Event: audit.SessionFailed, UserID: req.UserID, Reason: failureReason(err)})
	}
	return err
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, req sessionRequest) error {
	// Limits come before the password hash, so guessing costs the
	// attacker requests without costing us CPU.
	if err := s.limit(s.loginIPLimit, clientIP(r.Context()).String()); err != nil {
		return err
	}
	if err := s.limit(s.loginUserLimit, req.UserID); err != nil {
		return err
	}
	u, err := s.store.CheckPassword(r.Context(), req.UserID, req.Password)
	if err != nil {
		return err
	}
	if u.Disabled {
		return errUserDisabled
	}
	creds := s.creds.Load()
	tok, err := mintSession(creds.SessionKey, u.ID, u.SessionEpoch, s.now(), s.cfg.SessionTTL)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return encode(w, http.StatusOK, sessionResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.cfg.SessionTTL.Seconds()),
		UserID:      u.ID,
	})
}

var errUserDisabled = newProblem(http.StatusForbidden, codeUserDisabled, "this user is disabled")
