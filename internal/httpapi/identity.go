package httpapi

import (
	"authsvc/internal/audit"
	"fmt"
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
		return nil, err // an *idp.Error is the client's; toProblem says so
	}
	claim := ip.UserClaim
	if claim == "" {
		claim = "sub"
	}
	subject := c.String(claim)
	if subject == "" {
		return nil, &claimError{claim: claim}
	}
	candidate := subject
	if ip.HashUserIDs {
		candidate = idp.HashUserID(c.Issuer, subject)
	} else if err := users.ValidateID(subject); err != nil {
		return nil, &claimError{claim: claim, invalid: err}
	}
	u, created, err := s.store.ResolveIdentity(ctx, users.Identity{Issuer: c.Issuer, Subject: subject, Candidate: candidate,
		Provision: ip.AutoProvision, Name: c.String(ip.NameClaim)})
	if err != nil {
		return nil, err
	}
	actor := "idp:" + c.Issuer + "#" + subject
	if created {
		s.record(r, audit.Event{Kind: audit.UserCreated, UserID: u.ID, Actor: actor, Reason: "provisioned"})
	}
	if u.Disabled {
		return nil, errUserDisabled
	}
	return &principal{user: u, idp: actor}, nil
}

// claimError means a verified identity provider token cannot be mapped to a
// userID: it lacks the claim, or (invalid set) the claim breaks the userID
// rule and the service was not told to derive one.
type claimError struct {
	claim   string
	invalid error
}

func (e *claimError) Error() string {
	if e.invalid == nil {
		return fmt.Sprintf("the identity provider token has no %q claim to map to a userID", e.claim)
	}
	return fmt.Sprintf("the %q claim cannot be used as a ZIM userID (%v); the service can derive one instead (AUTHSVC_JWT_USER_ID=hash)", e.claim, e.invalid)
}
