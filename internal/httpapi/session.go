package httpapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Session tokens are HS256 JWTs signed with the session key. They carry the
// user's session epoch, which changes on a password change or a disable, so
// such events revoke every earlier session at once, and a random ID (jti),
// which DELETE /v1/sessions/current revokes on its own.
const (
	sessionIssuer   = "authsvc"
	sessionAudience = "authsvc-session"
)

type sessionClaims struct {
	Epoch int64 `json:"ep"`
	jwt.RegisteredClaims
}

// mintSession signs a new session token. Its ID is 128 bits from
// crypto/rand, so IDs never repeat and cannot be guessed.
func mintSession(key []byte, userID string, epoch int64, now time.Time, ttl time.Duration) (string, error) {
	c := sessionClaims{
		Epoch: epoch,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    sessionIssuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{sessionAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        rand.Text(),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
}

// parseSession verifies a session token. The algorithm is pinned, so a
// token claiming "none" or another algorithm never reaches the key. Tokens
// without an ID (minted before sessions could be revoked one by one) are
// refused: they could not be logged out.
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
	if c.ID == "" {
		return nil, errors.New("session without ID")
	}
	return &c, nil
}

// errInvalidSession wraps every reason a credential is not a live session
// token: malformed, badly signed, expired or revoked. Other errors from
// verify are the database's.
var errInvalidSession = errors.New("invalid session token")

// revokedFunc reports whether a session ID has been revoked
// (users.Store.SessionRevoked).
type revokedFunc func(ctx context.Context, id string) (bool, error)

// sessionCache remembers session tokens whose signature has been checked
// and which were not revoked, so a user's repeated requests skip the JWT
// parse, the HMAC and the revocation lookup. It belongs to one session key:
// a reload brings a new, empty cache. Expiry is still checked on every use.
// A logout calls forget, and its generation counter keeps a check that read
// the revocation list before the logout committed from caching the token
// after it. A logout through another replica cannot reach this cache, so an
// entry is trusted for sessionRecheck only; after that the revocation list
// is read again (one primary-key lookup per active session and second).
// The user's session epoch, which ends all of a user's sessions, is read
// with the user on every request.
type sessionCache struct {
	gen atomic.Uint64 // bumped by every forget

	mu      sync.RWMutex
	entries map[string]cachedSession
}

type cachedSession struct {
	subject string
	epoch   int64
	id      string    // the jti, to read the revocation list again
	expires time.Time // the token's
	recheck time.Time // when the revocation list must be read again
}

const sessionCacheSize = 100_000

// sessionRecheck is how long a checked session is trusted not to have been
// revoked: how long a logout through another replica may go unnoticed here.
const sessionRecheck = time.Second

func newSessionCache() *sessionCache {
	return &sessionCache{entries: make(map[string]cachedSession)}
}

// has reports whether tok is in the cache: a session token whose signature
// was checked, live or not.
func (c *sessionCache) has(tok string) bool {
	c.mu.RLock()
	_, ok := c.entries[tok]
	c.mu.RUnlock()
	return ok
}

// verify returns the subject and epoch of a valid, unrevoked session token.
// Its errors wrap errInvalidSession unless the revocation lookup failed.
func (c *sessionCache) verify(ctx context.Context, key []byte, tok string, now time.Time, revoked revokedFunc) (subject string, epoch int64, err error) {
	c.mu.RLock()
	e, ok := c.entries[tok]
	c.mu.RUnlock()
	if ok {
		if now.After(e.expires) { // as golang-jwt decides it
			return "", 0, fmt.Errorf("%w: expired", errInvalidSession)
		}
		if now.Before(e.recheck) {
			return e.subject, e.epoch, nil
		}
	} else {
		claims, err := parseSession(key, tok, now)
		if err != nil {
			return "", 0, fmt.Errorf("%w: %w", errInvalidSession, err)
		}
		e = cachedSession{subject: claims.Subject, epoch: claims.Epoch, id: claims.ID, expires: claims.ExpiresAt.Time}
	}
	gen := c.gen.Load()
	gone, err := revoked(ctx, e.id)
	if err != nil {
		return "", 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gone {
		delete(c.entries, tok)
		return "", 0, fmt.Errorf("%w: revoked", errInvalidSession)
	}
	if c.gen.Load() == gen {
		if _, cached := c.entries[tok]; !cached && len(c.entries) >= sessionCacheSize {
			for k := range c.entries { // evict an arbitrary entry: map order is random
				delete(c.entries, k)
				break
			}
		}
		e.recheck = now.Add(sessionRecheck)
		c.entries[tok] = e
	}
	return e.subject, e.epoch, nil
}

// forget drops tok after its revocation has been committed, so the next
// use of it reads the revocation list.
func (c *sessionCache) forget(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	delete(c.entries, tok)
}
