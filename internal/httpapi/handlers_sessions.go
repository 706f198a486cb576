package httpapi

import (
	"net/http"

	"authsvc/api"
	"authsvc/internal/audit"
	"authsvc/internal/users"
)

// createSession logs a user in with a password. Unknown users and wrong
// passwords get the same answer after the same work (users.CheckPassword
// hashes against a dummy when there is nothing to compare); a userID that
// breaks the ZIM rule cannot be anyone's and gets that answer at once.
//
// Failures are tallied, not recorded one by one: a client can repeat them
// at will.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var req api.SessionRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	u, tried, err := s.login(w, r, req)
	if err != nil {
		// Only an attempt that got as far as its userID names one: one
		// refused by the per-IP limit, or whose userID breaks the ZIM rule
		// (it can be no one's), is the client's alone, so a flood of junk
		// IDs makes one row per address and window, and no lookups.
		e := audit.Event{Kind: audit.SessionFailed, UserID: u.ID, Reason: failureReason(err)}
		registered := u.ID != ""
		if !registered && tried {
			e.UserID, registered = s.attemptedUser(r.Context(), req.UserID)
		}
		s.tally(r, e, registered)
		return err
	}
	s.record(r, audit.Event{Kind: audit.SessionCreated, UserID: u.ID})
	return nil
}

// login returns the user logged in, or the user refused when known, and
// whether the attempt got as far as a valid userID.
func (s *Server) login(w http.ResponseWriter, r *http.Request, req api.SessionRequest) (u users.User, tried bool, err error) {
	// Limits come before the password hash, so guessing costs the
	// attacker requests without costing us CPU. Only a valid userID may
	// be a limiter's key.
	if err := s.limit(r.Context(), s.limits.LoginIP, limitLoginIP, s.clientKey(r)); err != nil {
		return users.User{}, false, err
	}
	if !validID(req.UserID) {
		return users.User{}, false, users.ErrInvalidCredentials
	}
	if err := s.limit(r.Context(), s.limits.LoginUser, limitLoginUser, req.UserID); err != nil {
		return users.User{}, true, err
	}
	u, err = s.store.CheckPassword(r.Context(), req.UserID, req.Password)
	if err != nil {
		return users.User{}, true, err
	}
	if u.Disabled {
		return u, true, errUserDisabled
	}
	creds := s.creds.Load()
	tok, err := mintSession(creds.SessionKey, u.ID, u.SessionEpoch, s.now(), s.cfg.SessionTTL)
	if err != nil {
		return u, true, err
	}
	w.Header().Set("Cache-Control", "no-store")
	return u, true, encode(w, http.StatusOK, api.SessionResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.cfg.SessionTTL.Seconds()),
		UserID:      u.ID,
	})
}

var errUserDisabled = newProblem(http.StatusForbidden, codeUserDisabled, "this user is disabled")
