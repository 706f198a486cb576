package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"authsvc/internal/idp"
	"authsvc/internal/users"
)

// principal is who is calling: an admin (by key label) or a user.
type principal struct {
	admin string     // label of the matching admin key; "" for users
	user  users.User // the caller's current record, for user principals
	idp   string     // "idp:<issuer>#<subject>" when an identity provider vouched for the user
}

func (p *principal) isAdmin() bool { return p.admin != "" }

// actor names the caller for logs and the audit trail.
func (p *principal) actor() string {
	switch {
	case p.isAdmin():
		return p.admin
	case p.idp != "":
		return p.idp
	}
	return "user:" + p.user.ID
}

// access says which credentials a route accepts. Admin keys are always
// accepted.
type access int

const (
	adminOnly   access = iota
	sessions           // also users' session tokens
	sessionsIdP        // also identity provider tokens (the token routes)
)

// principalFrom is the caller requireAuth admitted, nil before that or on
// routes without a credential.
func principalFrom(ctx context.Context) *principal {
	if info := infoFrom(ctx); info != nil && info.authed {
		return &info.p
	}
	return nil
}

var errNoCredential = newProblem(http.StatusUnauthorized, codeUnauthorized, "missing or invalid bearer credential")

// bearer extracts the credential of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// authenticate resolves the bearer credential to a principal. Unknown,
// expired and revoked credentials all look the same to the caller: 401.
// The principal comes back as a value, to be kept in the request's info
// without an allocation of its own.
func (s *Server) authenticate(r *http.Request, acc access) (principal, error) {
	cred, ok := bearer(r)
	if !ok {
		return principal{}, errNoCredential
	}
	creds := s.creds.Load()
	// A bearer shaped like a JWT is tried as a session first: hashing it as
	// an admin key cost more than the cached session check, on every
	// request of a logged-in user. An admin key of that shape still works,
	// checked when it is no session. A bearer the session cache holds was
	// a session JWT when it went in, so its shape is not looked at again:
	// scanning a 200-byte session token cost more than the lookup.
	jwt := creds.sessions.has(cred) || idp.LooksLikeJWT(cred)
	if !jwt {
		if label, ok := creds.admin(cred); ok {
			return principal{admin: label}, nil
		}
	}
	subject, epoch, err := creds.sessions.verify(r.Context(), creds.SessionKey, cred, s.now(), s.store.SessionRevoked)
	if err != nil && jwt {
		if label, ok := creds.admin(cred); ok {
			return principal{admin: label}, nil
		}
	}
	switch {
	case errors.Is(err, errInvalidSession):
		if acc == sessionsIdP && creds.IdP != nil && jwt {
			p, err := s.authenticateIdP(r, creds.IdP, cred)
			if err != nil {
				return principal{}, err
			}
			return *p, nil
		}
		return principal{}, errNoCredential
	case err != nil:
		return principal{}, err
	}
	u, err := s.store.Get(r.Context(), subject)
	switch {
	case errors.Is(err, users.ErrNotFound):
		return principal{}, errNoCredential // deleted since the session began
	case err != nil:
		return principal{}, err
	case u.Disabled || u.SessionEpoch != epoch:
		return principal{}, errNoCredential // disabled, or password changed: revoked
	}
	return principal{user: u}, nil
}

// requireAuth admits the credentials acc allows; a valid user credential on
// an admin-only route gets 403.
func (s *Server) requireAuth(acc access) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := s.authenticate(r, acc)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if !p.isAdmin() && acc == adminOnly {
				s.writeError(w, r, newProblem(http.StatusForbidden, codeForbidden, "this route needs an admin credential"))
				return
			}
			// The principal joins the request's info instead of a new
			// context copy; observe made that info for every request.
			info := infoFrom(r.Context())
			if info == nil {
				info = &requestInfo{}
				r = r.WithContext(context.WithValue(r.Context(), requestKey, info))
			}
			info.p, info.authed = p, true
			next.ServeHTTP(w, r)
		})
	}
}

var errForbidden = newProblem(http.StatusForbidden, codeForbidden, "a user may act only on their own record and tokens")

// requireScraper guards /metrics on the main listener: the exposition tells
// who is using the service and how much, so it needs an admin key or the
// metrics token unless the server runs with OpenMetrics, and when metrics
// live on their own listener the route only answers 404.
func (s *Server) requireScraper(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.ServeMetrics && !s.cfg.OpenMetrics {
			cred, ok := bearer(r)
			if !ok || !s.creds.Load().scraper(cred) {
				s.writeError(w, r, errNoCredential)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
