package httpapi

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Session tokens are HS256 JWTs signed with the session key. They carry the
// user's session epoch, which changes on a password change or a disable, so
// such events revoke every earlier session at once.
const (
	sessionIssuer   = "authsvc"
	sessionAudience = "authsvc-session"
)

type sessionClaims struct {
	Epoch int64 `json:"ep"`
	jwt.RegisteredClaims
}

func mintSession(key []byte, userID string, epoch int64, now time.Time, ttl time.Duration) (string, error) {
	c := sessionClaims{
		Epoch: epoch,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    sessionIssuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{sessionAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
}

// parseSession verifies a session token. The algorithm is pinned, so a
// token claiming "none" or another algorithm never reaches the key.
func parseSession(key []byte, tok string, now time.Time) (*sessionClaims, error) {
	var c sessionClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(sessionIssuer),
		jwt.WithAudience(sessionAudience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, errors.New("session without subject")
	}
	return &c, nil
}
