package users

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"authsvc/internal/sqldb"
)

// notifyChannel is the channel on which every write that can make a cached
// user stale (an update of any field, a disable, a password change, a
// delete) notifies the userID, inside its transaction. Creations notify
// nothing: a cache holds only users that were found, so no process can hold
// a stale copy of a user that did not exist. That covers Create, Import and
// provisioning, and keeps a bulk import from queueing a thousand
// notifications, which PostgreSQL delivers under one global lock at commit.
const notifyChannel = "users"

// cacheTTLUnheard is the lifetime of users cached while Listen is known to
// hear nothing (its connection lost, or never made, or its notifications
// not arriving, as behind a pooler in transaction mode): short enough that
// a write by another replica still shows within a second, long enough that
// the token route's hot users are read twice a second rather than on every
// request. Heard entries stop being used at once (see cache.go).
const cacheTTLUnheard = 500 * time.Millisecond

// notify tells the other processes on the database, once tx commits, that
// the user id changed.
func (s *Store) notify(ctx context.Context, tx *sql.Tx, id string) error {
	return s.db.Notify(ctx, tx, notifyChannel, id)
}

// Listen hears the writes that other Stores on the database make (other
// replicas on PostgreSQL, the user CLI on a SQLite file), and evicts what
// they changed from this Store's cache, until ctx ends; it returns ctx's
// error. Run it on a goroutine of its own for as long as the Store serves.
// Each of observe's methods, when observe is not nil, is called after the
// Store has handled the event: a place to log Disconnected's error, or for
// a test to wait on.
//
// While it hears, users cached are used until a write evicts them (see
// cache.go), and after each time it starts listening it loads the users
// into the cache (see warm). While the connection is down, users cached
// before are no longer used and new ones are kept for cacheTTLUnheard
// only: a lost connection falls back to the cache's lifetimes, never to
// staleness without bound. Once listening again, the cache is emptied: it
// may have missed notifications.
func (s *Store) Listen(ctx context.Context, observe sqldb.ListenHandler) error {
	ctx, cancel := context.WithCancel(ctx)
	l := &listener{s: s, observe: observe, warm: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.warm:
				s.warm(ctx)
			}
		}
	})
	err := s.db.Listen(ctx, notifyChannel, l)
	cancel()
	wg.Wait()
	return err
}

// Evict drops the user id from the cache, so that the next Get reads the
// database.
func (s *Store) Evict(id string) { s.cache.evict(id) }

// warm loads users into the cache, a page at a time in the order of their
// IDs, until it holds them all or is full. A page read while a write
// happened is read again, up to twice, then skipped: its users are cached
// by their first Get instead.
func (s *Store) warm(ctx context.Context) {
	if s.cache.full() {
		return // it caches nothing (Options.CacheSize): no page to read
	}
	after := ""
	for {
		var p Page
		for try := 0; ; try++ {
			gen := s.cache.generation()
			var err error
			if p, err = s.List(ctx, ListOptions{After: after, Limit: MaxListLimit}); err != nil {
				return // ctx ended, or the database failed: Get reads it
			}
			if try == 2 || s.cache.putPage(p.Users, gen) {
				break
			}
		}
		if p.Next == "" || s.cache.full() {
			return
		}
		after = p.Users[len(p.Users)-1].ID
	}
}

// listener is the Store's sqldb.ListenHandler.
type listener struct {
	s       *Store
	observe sqldb.ListenHandler // nil: none
	warm    chan struct{}       // a warm is due; buffered, of one
	cold    bool                // since Reconnected, not confirmed yet
}

func (l *listener) Notified(id string) {
	l.s.Evict(id)
	if l.observe != nil {
		l.observe.Notified(id)
	}
}

// Reconnected: what was sent while nobody listened is lost, so anything
// cached may be stale. Once confirmed, the cache is warmed again.
func (l *listener) Reconnected() {
	l.s.cache.reset(cacheTTL)
	l.cold = true
	if l.observe != nil {
		l.observe.Reconnected()
	}
}

// Disconnected: writes from now on go unheard; see cacheTTLUnheard.
func (l *listener) Disconnected(err error) {
	l.s.cache.unconfirm(cacheTTLUnheard)
	if l.observe != nil {
		l.observe.Disconnected(err)
	}
}

// Confirmed: what is cached now, and put until cacheTTL from at, is heard.
func (l *listener) Confirmed(at time.Time) {
	l.s.cache.confirm(at)
	if l.cold {
		l.cold = false
		select {
		case l.warm <- struct{}{}:
		default: // one is due already
		}
	}
	if l.observe != nil {
		l.observe.Confirmed(at)
	}
}

// ListenerName is the application_name of the connection Listen holds on
// PostgreSQL (every replica's is the same), for a check that replicas
// listen; "" on SQLite.
func (s *Store) ListenerName(ctx context.Context) (string, error) {
	return s.db.ListenerName(ctx, notifyChannel)
}
