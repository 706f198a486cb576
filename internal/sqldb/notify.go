package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Notifications tell the other processes on a PostgreSQL database that
// something changed, so that they drop what they cached of it. PostgreSQL
// delivers a NOTIFY to every session that LISTENs on its channel when the
// notifying transaction commits, and never when it rolls back.
//
// Channels are database-wide, while authsvc's tables live in a schema
// (search_path): the channel on the wire is the caller's channel scoped by
// the schema, hashed so that it fits PostgreSQL's 63-byte identifiers. Two
// deployments in two schemas of one database, or two tests, never hear each
// other.
const channelSQL = `'authsvc_' || md5(current_schema() || '/' || $1)`

// MaxPayload is the longest payload Notify takes: PostgreSQL refuses a
// notification of 8000 bytes or more.
const MaxPayload = 7999

// Notify queues a notification of payload on channel inside tx, delivered
// to every Listen on channel when tx commits (not at all if it rolls back).
// On SQLite it does nothing: the database is one file of one process, whose
// stores see their own writes. payload must be at most MaxPayload bytes.
func (db *DB) Notify(ctx context.Context, tx *sql.Tx, channel, payload string) error {
	if db.flavor.dialect != Postgres {
		return nil
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("notify %s: payload of %d bytes, more than %d", channel, len(payload), MaxPayload)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify(`+channelSQL+`, $2)`, channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// A ListenHandler receives what Listen hears. Its methods are called from
// Listen's goroutine, one at a time; a slow one delays the next
// notification (the server queues them meanwhile).
type ListenHandler interface {
	// Notified is called once per notification on the channel, with its
	// payload, in commit order.
	Notified(payload string)
	// Reconnected is called after each time Listen starts listening,
	// the first time included: notifications sent while it was not
	// listening are lost, so the consumer must drop whatever they could
	// have told it about.
	Reconnected()
	// Disconnected is called when the connection is lost or a connection
	// attempt fails, with the reason (which never holds a password): until
	// Reconnected, notifications go unheard.
	Disconnected(err error)
}

// Listen timings. A silent connection is pinged every listenPing, so a
// connection lost without a word (a dead network path, a failover) is
// noticed within listenPing+listenTimeout, not after the kernel's TCP
// timeouts. Failed connections are retried after a delay that doubles from
// listenBackoffMin up to listenBackoffMax, so that replicas don't hammer a
// server that is restarting.
const (
	listenPing       = 5 * time.Second
	listenTimeout    = 5 * time.Second
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// Listen listens to channel on a connection of its own, outside the pool,
// and calls h for what it hears, until ctx ends; then it returns ctx's
// error. A lost connection is re-established, with backoff, for as long as
// it takes. The connection's application_name is ListenerName's, so that
// operators can tell it in pg_stat_activity.
//
// On SQLite it returns nil at once, calling nothing: there is no other
// process to hear from (another process on the same file, such as the user
// CLI, is bounded by the consumers' cache lifetimes instead).
func (db *DB) Listen(ctx context.Context, channel string, h ListenHandler) error {
	if db.flavor.dialect != Postgres {
		return nil
	}
	if channel == "" {
		return errors.New("listen: empty channel")
	}
	backoff := listenBackoffMin
	var cfg *pgx.ConnConfig
	for {
		var err error
		if cfg == nil {
			cfg, err = db.listenConfig(ctx, channel)
		}
		if cfg != nil {
			var listened bool
			listened, err = db.listenOnce(ctx, cfg, channel, h)
			if listened {
				backoff = listenBackoffMin // a fresh loss, not a server still down
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.Disconnected(err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// ListenerName returns the application_name of Listen's connection for
// channel in this database's schema, as it shows in pg_stat_activity; ""
// on SQLite, which has no listener.
func (db *DB) ListenerName(ctx context.Context, channel string) (string, error) {
	if db.flavor.dialect != Postgres {
		return "", nil
	}
	var name string
	if err := db.Reader.QueryRowContext(ctx, `SELECT 'authsvc listen ' || `+channelSQL, channel).Scan(&name); err != nil {
		return "", fmt.Errorf("listener name: %w", err)
	}
	return name, nil
}

// listenConfig returns the configuration of a listening connection: the
// pool's own (same server, credentials, search_path), taken from one of its
// connections since DB keeps no URL, with the listener's application_name.
func (db *DB) listenConfig(ctx context.Context, channel string) (*pgx.ConnConfig, error) {
	name, err := db.ListenerName(ctx, channel)
	if err != nil {
		return nil, err
	}
	conn, err := db.Reader.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer conn.Close()
	var cfg *pgx.ConnConfig
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("listen: driver connection is a %T, not pgx's", dc)
		}
		cfg = c.Conn().Config() // a copy
		return nil
	})
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = name
	// The listener waits for notifications as long as there are none: its
	// reads must not time out as the pool's do. It pings a quiet
	// connection on its own.
	cfg.DialFunc = (&net.Dialer{KeepAlive: keepAlive}).DialContext
	// The copy carries the pool connection's own notification buffer;
	// without it pgx.ConnectConfig buffers into the new connection.
	cfg.OnNotification = nil
	return cfg, nil
}

// listenOnce connects, listens and hears notifications until the
// connection fails or ctx ends. listened reports whether it got as far as
// listening.
func (db *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, channel string, h ListenHandler) (listened bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, listenTimeout)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen: connect %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(cctx)
		cancel()
	}()
	var name string
	cctx, cancel = context.WithTimeout(ctx, listenTimeout)
	err = conn.QueryRow(cctx, `SELECT `+channelSQL, channel).Scan(&name)
	if err == nil {
		_, err = conn.Exec(cctx, `LISTEN `+pgx.Identifier{name}.Sanitize())
	}
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// From here on nothing is missed; what was sent before is the
	// consumer's to forget.
	h.Reconnected()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			h.Notified(n.Payload)
			continue
		}
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		// Anything but our own timeout means the connection is gone.
		if !errors.Is(err, context.DeadlineExceeded) || conn.PgConn().IsClosed() {
			return true, fmt.Errorf("listen: %w", err)
		}
		// A quiet spell: make sure the server is still there.
		pctx, cancel := context.WithTimeout(ctx, listenTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, fmt.Errorf("listen: ping: %w", err)
		}
	}
}
