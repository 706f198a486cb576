package httpapi

import (
	"net/http"

	"authsvc/internal/audit"
	"authsvc/internal/users"
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
// hashes against a dummy when there is nothing to compare); a userID that
// breaks the ZIM rule cannot be anyone's and gets that answer at once.
//
// Failures are tallied, not recorded one by one: a client can repeat them
// at will.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var req sessionRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	valid := validID(req.UserID)
	u, err := s.login(w, r, req, valid)
	if err != nil {
		id := u.ID
		if id == "" {
			id = s.attemptedUser(r.Context(), req.UserID, valid)
		}
		s.tally(r, audit.Event{Kind: audit.SessionFailed, UserID: id, Reason: failureReason(err)})
		return err
	}
	s.record(r, audit.Event{Kind: audit.SessionCreated, UserID: u.ID})
	return nil
}

// login returns the user logged in, or the user refused when known.
func (s *Server) login(w http.ResponseWriter, r *http.Request, req sessionRequest, validID bool) (users.User, error) {
	// Limits come before the password hash, so guessing costs the
	// attacker requests without costing us CPU. Only a valid userID may
	// be a limiter's key.
	if err := s.limit(r.Context(), s.limits.LoginIP, limitLoginIP, s.clientKey(r)); err != nil {
		return users.User{}, err
	}
	if !validID {
		return users.User{}, users.ErrInvalidCredentials
	}
	if err := s.limit(r.Context(), s.limits.LoginUser, limitLoginUser, req.UserID); err != nil {
		return users.User{}, err
	}
	u, err := s.store.CheckPassword(r.Context(), req.UserID, req.Password)
	if err != nil {
		return users.User{}, err
	}
	if u.Disabled {
		return u, errUserDisabled
	}
	creds := s.creds.Load()
	tok, err := mintSession(creds.SessionKey, u.ID, u.SessionEpoch, s.now(), s.cfg.SessionTTL)
	if err != nil {
		return u, err
	}
	w.Header().Set("Cache-Control", "no-store")
	return u, encode(w, http.StatusOK, sessionResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.cfg.SessionTTL.Seconds()),
		UserID:      u.ID,
	})
}

var errUserDisabled = newProblem(http.StatusForbidden, codeUserDisabled, "this user is disabled")
