package httpapi

import (
	"errors"
	"sync"
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

// sessionCache remembers session tokens whose signature has been checked,
// so a user's repeated requests skip the JWT parse and HMAC. It belongs to
// one session key: a reload brings a new, empty cache. Expiry is still
// checked on every use, and revocation never depended on the signature: it
// is the user's session epoch, read with the user on every request.
type sessionCache struct {
	mu      sync.RWMutex
	entries map[string]cachedSession
}

type cachedSession struct {
	subject string
	epoch   int64
	expires time.Time
}

const sessionCacheSize = 100_000

func newSessionCache() *sessionCache {
	return &sessionCache{entries: make(map[string]cachedSession)}
}

// verify returns the subject and epoch of a valid session token.
func (c *sessionCache) verify(key []byte, tok string, now time.Time) (subject string, epoch int64, err error) {
	c.mu.RLock()
	e, ok := c.entries[tok]
	c.mu.RUnlock()
	if ok {
		if now.After(e.expires) { // as golang-jwt decides it
			return "", 0, errors.New("session expired")
		}
		return e.subject, e.epoch, nil
	}
	claims, err := parseSession(key, tok, now)
	if err != nil {
		return "", 0, err
	}
	c.mu.Lock()
	if len(c.entries) >= sessionCacheSize {
		for k := range c.entries { // evict an arbitrary entry: map order is random
			delete(c.entries, k)
			break
		}
	}
	c.entries[tok] = cachedSession{subject: claims.Subject, epoch: claims.Epoch, expires: claims.ExpiresAt.Time}
	c.mu.Unlock()
	return claims.Subject, claims.Epoch, nil
}
