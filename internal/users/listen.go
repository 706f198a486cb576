package users

import (
	"context"
	"database/sql"
	"time"

	"authsvc/internal/sqldb"
)

// notifyChannel is the channel on which every write that can make a cached
// user stale (an update of any field, a disable, a password change, a
// delete) notifies the userID, inside its transaction. Creations notify
// nothing: a cache holds only users that were found, so no replica can hold
// a stale copy of a user that did not exist. That covers Create, Import and
// provisioning, and keeps a bulk import from queueing a thousand
// notifications, which PostgreSQL delivers under one global lock at commit.
const notifyChannel = "users"

// cacheTTLUnheard is the lifetime of users cached while Listen is known to
// hear nothing (its connection lost, or never made, as behind a pooler that
// has no LISTEN): short enough that a write by another replica still shows
// within a second, long enough that the token route's hot users are read
// twice a second rather than on every request. Users cached before the loss
// keep their cacheTTL: the fallback the issue asks for, a bound of 2 s on
// what the loss can hide. While the connection is up the lifetime stays
// cacheTTL too: a connection that dies without a word goes unnoticed for up
// to a ping interval, and cacheTTL bounds what is missed meanwhile.
const cacheTTLUnheard = 500 * time.Millisecond

// notify tells the other replicas, once tx commits, that the user id
// changed. A no-op on SQLite.
func (s *Store) notify(ctx context.Context, tx *sql.Tx, id string) error {
	return s.db.Notify(ctx, tx, notifyChannel, id)
}

// Listen hears the writes that other Stores on the database (other
// replicas) make, and evicts what they changed from this Store's cache, until
// ctx ends; it returns ctx's error. Run it on a goroutine of its own for as
// long as the Store serves. Each of observe's methods, when observe is not
// nil, is called after the Store has handled the event: a place to log
// Disconnected's error, or for a test to wait on.
//
// While the connection is down, users cached before keep their cacheTTL
// and new ones are kept for cacheTTLUnheard only: a lost connection falls
// back to the cache's lifetimes, never to staleness without bound. Once
// listening again, the cache is emptied: it may have missed notifications. On SQLite it returns nil at once: there are no
// replicas, and other processes on the file (the user CLI) are bounded by
// cacheTTL.
func (s *Store) Listen(ctx context.Context, observe sqldb.ListenHandler) error {
	return s.db.Listen(ctx, notifyChannel, listener{s: s, observe: observe})
}

// Evict drops the user id from the cache, so that the next Get reads the
// database.
func (s *Store) Evict(id string) { s.cache.evict(id) }

// EvictAll drops every user from the cache.
func (s *Store) EvictAll() { s.cache.reset(cacheTTL) }

// listener is the Store's sqldb.ListenHandler.
type listener struct {
	s       *Store
	observe sqldb.ListenHandler // nil: none
}

func (l listener) Notified(id string) {
	l.s.Evict(id)
	if l.observe != nil {
		l.observe.Notified(id)
	}
}

// Reconnected: what was sent while nobody listened is lost, so anything
// cached may be stale.
func (l listener) Reconnected() {
	l.s.cache.reset(cacheTTL)
	if l.observe != nil {
		l.observe.Reconnected()
	}
}

// Disconnected: writes from now on go unheard; see cacheTTLUnheard.
func (l listener) Disconnected(err error) {
	l.s.cache.setTTL(cacheTTLUnheard)
	if l.observe != nil {
		l.observe.Disconnected(err)
	}
}

// ListenerName is the application_name of the connection Listen holds on
// PostgreSQL (every replica's is the same), for a check that replicas
// listen; "" on SQLite.
func (s *Store) ListenerName(ctx context.Context) (string, error) {
	return s.db.ListenerName(ctx, notifyChannel)
}
