// Package httpapitest builds authsvc's real HTTP API over a fresh test
// database, for the tests outside httpapi that need a server to talk to: the
// load generator's, the bare baseline's and the examples'. It uses cheap
// password hashing and no rate limits unless given some.
package httpapitest

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/httpapi"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

// Options say which app, keys and limits the API has. AppID, Secret,
// AdminKey and SessionKey are required.
type Options struct {
	AppID       uint32
	Secret      string // the app's ServerSecret
	AdminKey    string
	SessionKey  string
	SessionTTL  time.Duration // default one hour
	TokenTTL    time.Duration // the app's default token lifetime; default one hour
	CORSOrigins []string
	Limiters    httpapi.Limiters // unset limits are off
	Now         func() time.Time // the clock of the store and the API; default time.Now
	// ZIMCallbackSecret, when set, enables the app's ZIM callback route.
	ZIMCallbackSecret string
}

// New returns the API handler and its user store, on a new database that
// tb's cleanup closes.
func New(tb testing.TB, o Options) (http.Handler, *users.Store) {
	tb.Helper()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = time.Hour
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = time.Hour
	}
	db := sqldbtest.Open(tb)
	events, err := audit.NewReader(db)
	if err != nil {
		tb.Fatal(err)
	}
	store, err := users.NewStore(db, users.Options{Now: o.Now, Hash: users.HashParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	key, err := token.NewKey([]byte(o.Secret))
	if err != nil {
		tb.Fatal(err)
	}
	creds := &httpapi.Credentials{
		Apps: []apps.App{{
			ID: o.AppID, Keys: []*token.Key{key}, Variant: token.GCM,
			TTL: apps.TTLBounds{Default: o.TokenTTL, Min: time.Minute, Max: 24 * time.Hour},
		}},
		DefaultApp: o.AppID,
		AdminKeys:  []httpapi.AdminKey{httpapi.NewAdminKey([]byte(o.AdminKey))},
		SessionKey: []byte(o.SessionKey),
	}
	if o.ZIMCallbackSecret != "" {
		creds.Apps[0].ZIM.CallbackSecret = []byte(o.ZIMCallbackSecret)
	}
	h, err := httpapi.NewServer(
		httpapi.Config{SessionTTL: o.SessionTTL, RenewGrace: 5 * time.Minute, CORSOrigins: o.CORSOrigins, Version: "test"},
		creds,
		httpapi.Deps{
			Store: store, Ready: db.Ready, Events: events, Limiters: o.Limiters,
			Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Now: o.Now, Rand: rand.Reader,
		})
	if err != nil {
		tb.Fatal(err)
	}
	return h, store
}
