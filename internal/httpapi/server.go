// Package httpapi is authsvc's HTTP interface: token issuance and renewal,
// user provisioning, sessions and operational endpoints. api/openapi.yaml is
// the contract; routes.go lists every route in the spec's order.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/users"
)

// AdminKey is one accepted admin credential. Only its SHA-256 digest is
// kept, so comparisons run over equal-length values in constant time.
type AdminKey struct {
	Label  string // shown in logs and the audit trail instead of the key
	digest [sha256.Size]byte
}

// NewAdminKey prepares an admin credential. Its label is a fingerprint of the
// key (a prefix of its SHA-256), which identifies it without revealing it.
func NewAdminKey(key []byte) AdminKey {
	d := sha256.Sum256(key)
	return AdminKey{Label: "admin:" + hex.EncodeToString(d[:4]), digest: d}
}

// Credentials is everything a reload (SIGHUP) may replace while serving.
type Credentials struct {
	// Apps and DefaultApp are the apps.Set tokens are minted for (appSet).
	Apps       []apps.App
	DefaultApp uint32
	AdminKeys  []AdminKey
	SessionKey []byte            // HMAC key for session tokens, at least 32 bytes
	IdP        *IdentityProvider // nil unless tokens from the business's identity provider are accepted

	// MetricsToken is a bearer accepted on /metrics besides the admin keys,
	// so a scraper needs no admin power; nil accepts admin keys only.
	MetricsToken []byte

	sessions *sessionCache // for SessionKey; set when the server takes these credentials
}

// Validate reports a configuration the server cannot run with.
func (c *Credentials) Validate() error {
	if err := c.appSet().Validate(); err != nil {
		return err
	}
	if c.IdP != nil && c.IdP.Verifier == nil {
		return errors.New("identity provider without a verifier")
	}
	if c.MetricsToken != nil && len(c.MetricsToken) < 16 {
		return fmt.Errorf("metrics token must be at least 16 bytes, got %d", len(c.MetricsToken))
	}
	if len(c.SessionKey) < 32 {
		return fmt.Errorf("session key must be at least 32 bytes, got %d", len(c.SessionKey))
	}
	return nil
}

// appSet is the apps of these credentials, for the token policy.
func (c *Credentials) appSet() apps.Set {
	return apps.Set{Apps: c.Apps, Default: c.DefaultApp}
}

// admin returns the label of the admin key matching credential. Every key is
// compared, each in constant time, so timing reveals neither which key
// matched nor how much of it.
func (c *Credentials) admin(credential string) (string, bool) {
	// Every bearer passes here, so it is copied for hashing into a stack
	// buffer when it fits, as session tokens do, not onto the heap.
	var buf [512]byte
	b := buf[:0]
	if len(credential) <= len(buf) {
		b = append(b, credential...)
	} else {
		b = []byte(credential)
	}
	d := sha256.Sum256(b)
	label, ok := "", false
	for _, k := range c.AdminKeys {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			label, ok = k.Label, true
		}
	}
	return label, ok
}

// scraper reports whether credential may read /metrics: an admin key or the
// metrics token, each compared in constant time over SHA-256 digests, so
// timing reveals neither which matched nor how much of it.
func (c *Credentials) scraper(credential string) bool {
	_, ok := c.admin(credential)
	if c.MetricsToken != nil {
		d, want := sha256.Sum256([]byte(credential)), sha256.Sum256(c.MetricsToken)
		if subtle.ConstantTimeCompare(d[:], want[:]) == 1 {
			ok = true
		}
	}
	return ok
}

// Config is the server's fixed configuration.
type Config struct {
	SessionTTL     time.Duration // lifetime of session tokens from POST /v1/sessions
	RenewGrace     time.Duration // how long after expiry a token may still be renewed
	CORSOrigins    []string      // browser origins allowed to call the API; empty = none
	TrustedProxies []netip.Prefix
	ServeMetrics   bool // false when metrics have their own listener
	OpenMetrics    bool // /metrics needs no bearer on this handler (--dev)
	Version        string
	Limits         Limits
}

// Limits say how requests are counted towards the rate limits of Deps.
type Limits struct {
	// IPv6Prefix is how many leading bits of an IPv6 client's address the
	// per-IP limit counts by; 0 means 64. IPv4 clients count by address.
	IPv6Prefix int
}

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	cfg     Config
	creds   atomic.Pointer[Credentials]
	store   *users.Store
	readyFn func(context.Context) error
	events  *audit.Reader
	audit   *audit.Recorder
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	rand    io.Reader
	handler http.Handler
	mux     *chi.Mux // the router behind handler
	ready   readiness
	limits  Limiters     // none nil
	replays *replayCache // of ZIM callbacks
	nonces  Nonces       // nil: the callbacks' nonces are remembered per process only
	grants  RoomGrants
	zimSync func(ctx context.Context, userID string) ([]api.ZIMSyncState, error) // nil: none

	unavailable func(error) bool // never nil
	accessLog   io.Writer        // Deps.AccessLog
}

// Deps are the collaborators a Server uses.
type Deps struct {
	Store *users.Store
	// Ready checks that the store takes writes, for /readyz. An error may
	// say why in words fit for a client with a NotReadyDetail() string
	// method.
	Ready    func(context.Context) error
	Events   *audit.Reader   // reads the audit trail for GET /v1/audit
	Audit    *audit.Recorder // nil switches the audit trail off
	Limiters Limiters
	Logger   *slog.Logger
	Registry *prometheus.Registry // the server registers its metrics here and serves it on /metrics
	Now      func() time.Time     // clock; time.Now in production
	Rand     io.Reader            // crypto/rand.Reader in production
	// AccessLog, when set, takes the access log's lines (a "request"
	// record for each request, at the levels Logger enables) directly, one
	// Write each, byte for byte as slog.NewJSONHandler(AccessLog, nil)
	// would write them and at a fraction of the cost. Set it only when
	// Logger's handler is a JSONHandler on this writer with no attributes,
	// groups, ReplaceAttr or AddSource (the lines left to Logger, those
	// that need escaping, would show them and the others not). It must be
	// safe for concurrent use. Nil sends those lines through Logger.
	AccessLog io.Writer
	// Console serves the admin console under /console/; nil leaves those
	// paths a 404 like any unknown route.
	Console http.Handler
	// ZIMSync reports a user's sync state with each app that keeps ZIM in
	// step, for GET /v1/users/{userID}; nil shows none.
	ZIMSync func(ctx context.Context, userID string) ([]api.ZIMSyncState, error)
	// Unavailable reports whether an error of the store means the database
	// is unreachable or busy for now (sqldb.DB.IsUnavailable): such a
	// request is answered 503 with Retry-After, not 500. Nil: never.
	Unavailable func(error) bool
	// RoomGrants records the RTC rooms of the room tokens minted, so that
	// a revoked user can be kicked out of them; nil records nothing.
	RoomGrants RoomGrants
	// Nonces, when set, remembers the ZIM callbacks accepted by every
	// replica, so that a callback replayed to another one within the
	// window is refused too (Redis); nil: each process remembers its own.
	Nonces Nonces
}

// Nonces is a memory of callback nonces shared with other processes
// (sharedlimit.Redis). An error leaves the callback to this process's own
// memory.
type Nonces interface {
	// Claim records key for ttl as held by claim, a value unique to the
	// caller, reporting false when some process holds it already.
	Claim(ctx context.Context, key, claim string, ttl time.Duration) (bool, error)
	// Release forgets key if claim still holds it, so that the callback
	// may come again; another's claim stays.
	Release(ctx context.Context, key, claim string) error
}

// RoomGrants records which RTC rooms a user holds tokens for
// (zimsync.Rooms).
type RoomGrants interface {
	// Grant records that userID holds a token of appID for roomID until
	// expiresAt. It reports false when the user is disabled or gone, so
	// that a token minted while a revocation committed is not handed out.
	Grant(ctx context.Context, appID uint32, userID, roomID string, expiresAt time.Time) (bool, error)
}

// NewServer builds the API handler.
func NewServer(cfg Config, creds *Credentials, d Deps) (*Server, error) {
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	if cfg.SessionTTL <= 0 {
		return nil, errors.New("session TTL must be positive")
	}
	if cfg.RenewGrace < 0 {
		return nil, errors.New("renew grace must not be negative")
	}
	for _, o := range cfg.CORSOrigins {
		if err := ValidateOrigin(o); err != nil {
			return nil, fmt.Errorf("CORS origins: %w", err)
		}
	}
	if d.Store == nil || d.Ready == nil || d.Events == nil {
		return nil, errors.New("new server: Store, Ready and Events are required")
	}
	s := &Server{cfg: cfg, store: d.Store, readyFn: d.Ready, events: d.Events, audit: d.Audit, log: d.Logger, now: d.Now,
		rand: d.Rand, limits: d.Limiters.orNoLimit(), unavailable: d.Unavailable,
		replays: newReplayCache(maxReplayEntries), nonces: d.Nonces, grants: d.RoomGrants, zimSync: d.ZIMSync, accessLog: d.AccessLog}
	if s.unavailable == nil {
		s.unavailable = func(error) bool { return false }
	}
	creds.sessions = newSessionCache()
	s.creds.Store(creds)
	if p := cfg.Limits.IPv6Prefix; p < 0 || p > 128 {
		return nil, fmt.Errorf("IPv6 rate limit prefix /%d is not between /1 and /128", p)
	}
	m, err := newMetrics(d.Registry, d.Store, d.Audit, s.replays, cfg.Version)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.handler = s.routes(d.Registry, d.Console)
	return s, nil
}

// Reload swaps in new credentials; requests in flight finish with the old.
func (s *Server) Reload(creds *Credentials) error {
	if err := creds.Validate(); err != nil {
		return err
	}
	creds.sessions = newSessionCache()
	s.creds.Store(creds)
	return nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}
