package httpapi

import (
	"errors"
	"net/http"

	"authsvc/internal/idp"
	"authsvc/internal/users"
)

// IdentityProvider lets users of the business's own identity provider get
// tokens with the provider's JWT as their credential.
type IdentityProvider struct {
	Verifier *idp.Verifier
	// UserClaim names the claim that identifies the user ("sub" by default).
	UserClaim string
	// HashUserIDs derives the userID from the issuer and the claim with
	// idp.HashUserID, for providers whose subjects break the ZIM rule
	// (longer than 32 bytes, or with characters such as '|'). Otherwise the
	// claim is used as it is and must satisfy the rule.
	HashUserIDs bool
	// AutoProvision creates a user on first sight, named from NameClaim.
	AutoProvision bool
	NameClaim     string
}

// authenticateIdP maps a verified identity provider token to a user. The
// mapping is stored the first time, so a subject keeps its userID
// (users.Store.ResolveIdentity).
func (s *Server) authenticateIdP(r *http.Request, ip *IdentityProvider, cred string) (*principal, error) {
	ctx := r.Context()
	c, err := ip.Verifier.Verify(ctx, cred, s.now())
	if err != nil {
		var ie *idp.Error
		if !errors.As(err, &ie) {
			return nil, err
		}
		p := newProblem(http.StatusUnauthorized, codeUnauthorized, "identity provider token refused: %s", ie.Reason)
		p.Reason = ie.Reason
		return nil, p
	}
	claim := ip.UserClaim
	if claim == "" {
		claim = "sub"
	}
	subject := c.String(claim)
	if subject == "" {
		return nil, newProblem(http.StatusForbidden, codeForbidden, "the identity provider token has no %q claim to map to a userID", claim)
	}
	candidate := subject
	if ip.HashUserIDs {
		candidate = idp.HashUserID(c.Issuer, subject)
	} else if err := users.ValidateID(subject); err != nil {
		return nil, newProblem(http.StatusForbidden, codeForbidden,
			"the %q claim cannot be used as a ZIM userID (%v); the service can derive one instead (AUTHSVC_JWT_USER_ID=hash)", claim, err)
	}
	u, err := s.store.ResolveIdentity(ctx, users.Identity{Issuer: c.Issuer, Subject: subject, Candidate: candidate,
		Provision: ip.AutoProvision, Name: c.String(ip.NameClaim)})
	var ue *users.UnregisteredError
	if errors.As(err, &ue) {
		return nil, newProblem(http.StatusForbidden, codeUserNotFound, "user %q is not registered", ue.ID)
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errUserDisabled
	}
	return &principal{user: u, idp: "idp:" + c.Issuer + "#" + subject}, nil
}
