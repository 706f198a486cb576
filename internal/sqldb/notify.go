package sqldb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Notifications tell the other processes on a database that something
// changed, so that they drop what they cached of it. PostgreSQL delivers a
// NOTIFY to every session that LISTENs on its channel when the notifying
// transaction commits, and never when it rolls back. SQLite has no such
// thing: there a notification is a row of the notifications table, written
// in the notifying transaction, and Listen reads the rows as they commit
// (see listenSQLite). Either way a listener also learns how far it has
// heard (ListenHandler.Confirmed), so that a consumer can trust what it
// cached for as long as it keeps hearing.
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
// payload must be at most MaxPayload bytes.
func (db *DB) Notify(ctx context.Context, tx *sql.Tx, channel, payload string) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("notify %s: payload of %d bytes, more than %d", channel, len(payload), MaxPayload)
	}
	q := `SELECT pg_notify(` + channelSQL + `, $2)`
	args := []any{channel, payload}
	if db.flavor.dialect != Postgres {
		q = `INSERT INTO notifications (channel, payload, at) VALUES ($1, $2, $3)`
		args = append(args, time.Now().UnixMicro())
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
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
	// Confirmed is called at least every listenConfirm (1 s) while Listen
	// listens, once it has delivered the notifications of every
	// transaction that committed before at. A consumer that evicts what
	// it is notified of holds nothing older than at that is stale, unless
	// it was cached before the last Reconnected.
	Confirmed(at time.Time)
}

// Listen timings. A PostgreSQL listener sends itself a notification every
// listenConfirm (see listenOnce), so a connection lost without a word (a
// dead network path, a failover) is noticed within
// listenConfirm+listenTimeout, not after the kernel's TCP timeouts. Failed
// connections are retried after a delay that doubles from listenBackoffMin
// up to listenBackoffMax, so that replicas don't hammer a server that is
// restarting. A SQLite listener reads the notifications table every
// listenPoll, and starts deleting rows notifyKeep old every notifyKeep/2.
const (
	listenConfirm    = time.Second
	listenTimeout    = 5 * time.Second
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	listenPoll       = 250 * time.Millisecond
	listenBatch      = 1000
	notifyKeep       = time.Minute
)

// Listen listens to channel on a connection of its own, outside the pool,
// and calls h for what it hears, until ctx ends; then it returns ctx's
// error. A lost connection is re-established, with backoff, for as long as
// it takes. The connection's application_name is ListenerName's, so that
// operators can tell it in pg_stat_activity.
//
// On SQLite it reads the notifications table instead (listenSQLite).
// Listen must have returned before db is closed.
func (db *DB) Listen(ctx context.Context, channel string, h ListenHandler) error {
	if channel == "" {
		return errors.New("listen: empty channel")
	}
	if db.flavor.dialect != Postgres {
		return db.listenSQLite(ctx, channel, h)
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
// on SQLite, whose listener reads a table and holds no such connection.
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
	// reads must not time out as the pool's do. Its confirmations show a
	// quiet connection is alive.
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
	// The channel, and the one of the confirmations (below).
	var name, confirmName string
	cctx, cancel = context.WithTimeout(ctx, listenTimeout)
	err = conn.QueryRow(cctx, `SELECT `+channelSQL+`, `+strings.ReplaceAll(channelSQL, "$1", "$2"), channel, confirmChannel(channel)).
		Scan(&name, &confirmName)
	if err == nil {
		_, err = conn.Exec(cctx, `LISTEN `+pgx.Identifier{name}.Sanitize()+`; LISTEN `+pgx.Identifier{confirmName}.Sanitize())
	}
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// From here on nothing is missed; what was sent before is the
	// consumer's to forget.
	h.Reconnected()
	// Every listenConfirm a nonce is notified through the pool, the way
	// writes notify, and its arrival here confirms the time it was sent:
	// PostgreSQL delivers notifications in the order their transactions
	// committed. A ping would not do: behind a pooler in transaction mode,
	// LISTEN and pings succeed but notifications never come. One that has
	// not come within listenTimeout counts as a lost connection.
	next := time.Now() // of the next nonce
	var nonce string   // the one on its way, if any
	var sent time.Time
	for {
		if nonce == "" && !time.Now().Before(next) {
			sent = time.Now()
			if nonce, err = db.sendConfirm(ctx, channel); err != nil {
				if ctx.Err() != nil {
					return true, ctx.Err()
				}
				return true, fmt.Errorf("listen: confirm: %w", err)
			}
		}
		until := next
		if nonce != "" {
			until = sent.Add(listenTimeout)
		}
		wctx, cancel := context.WithDeadline(ctx, until)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err == nil {
			switch {
			case n.Channel == name:
				h.Notified(n.Payload)
			case n.Channel == confirmName && nonce != "" && n.Payload == nonce: // others' nonces confirm nothing here
				h.Confirmed(sent)
				nonce, next = "", sent.Add(listenConfirm)
			}
			continue
		}
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		// Anything but our own timeout means the connection is gone.
		if !errors.Is(err, context.DeadlineExceeded) || conn.PgConn().IsClosed() {
			return true, fmt.Errorf("listen: %w", err)
		}
		if nonce != "" && !time.Now().Before(sent.Add(listenTimeout)) {
			return true, fmt.Errorf("listen: a notification sent %v ago has not arrived (a pooler in transaction mode passes no notifications)", listenTimeout)
		}
	}
}

// confirmChannel is the channel of channel's confirmations.
func confirmChannel(channel string) string { return channel + "#confirm" }

// sendConfirm notifies a new random nonce on channel's confirmation
// channel, through the pool, and returns it.
func (db *DB) sendConfirm(ctx context.Context, channel string) (string, error) {
	nonce := rand.Text()
	_, err := db.Writer.ExecContext(ctx, `SELECT pg_notify(`+strings.ReplaceAll(channelSQL, "$1", "$2")+`, $1)`,
		nonce, confirmChannel(channel))
	return nonce, err
}

// listenSQLite is Listen on SQLite: every listenPoll it reads the
// notifications table for rows after the last it read, on a connection of
// its own, so that requests holding every connection of the pool never
// hold back a confirmation. The first read starts from the newest row, as
// a PostgreSQL listener hears nothing from before it listened. Rows commit
// in the order of seq without gaps (see migration 0014), so rows deleted
// unread (a gap, or AUTOINCREMENT's counter past the last row) and a
// counter before the last row read (a database restored from a backup)
// are a loss, as is a read that fails: listening starts again with
// Reconnected. So is a path that no longer names the file opened (deleted
// or replaced): the other processes write elsewhere, and the listener
// stays disconnected, as Ready reports the file replaced. Rows notifyKeep
// old are deleted, except the newest, so a listener that fell that far
// behind (a process paused for a minute) finds the gap.
func (db *DB) listenSQLite(ctx context.Context, channel string, h ListenHandler) error {
	conn, err := sql.Open("sqlite", db.readDSN)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxLifetime(0)
	conn.SetConnMaxIdleTime(0)

	// Housekeeping runs beside the reads, one prune at a time, so that a
	// writer held by a long transaction, here or in another process,
	// never holds back a confirmation.
	var pruning sync.WaitGroup
	defer pruning.Wait()
	var prunes atomic.Bool          // a prune runs
	listening, gone := false, false // gone: the file was replaced
	var last int64                  // the seq of the last row read
	var pruned time.Time            // when a prune last started
	t := time.NewTicker(listenPoll)
	defer t.Stop()
	for {
		at := time.Now()
		err := db.fileReady(ErrFileReplaced, nil)
		switch {
		case err != nil:
		case !listening:
			err = conn.QueryRowContext(ctx, lastNotificationSQL).Scan(&last)
			if err == nil {
				listening = true
				h.Reconnected()
			}
		default:
			err = pollNotifications(ctx, conn, channel, h, &last)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// A replaced file stays replaced: it is reported once.
			if !errors.Is(err, ErrFileReplaced) || !gone {
				h.Disconnected(fmt.Errorf("listen: %w", err))
			}
			gone = errors.Is(err, ErrFileReplaced)
			listening = false
		} else {
			h.Confirmed(at)
			if at.Sub(pruned) >= notifyKeep/2 && prunes.CompareAndSwap(false, true) {
				pruned = at
				last := last
				pruning.Go(func() {
					defer prunes.Store(false)
					// An error is no loss: rows that stay (a full disk)
					// are deleted by a later prune.
					_ = db.pruneNotifications(ctx, last, at)
				})
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// pruneNotifications deletes the rows read (up to seq last) that are
// notifyKeep older than at, except the newest row, so that a listener
// behind this one finds a gap.
func (db *DB) pruneNotifications(ctx context.Context, last int64, at time.Time) error {
	_, err := db.Writer.ExecContext(ctx, `DELETE FROM notifications WHERE seq <= $1 AND at < $2
		AND seq < (SELECT MAX(seq) FROM notifications)`, last, at.Add(-notifyKeep).UnixMicro())
	return err
}

// errNotificationsLost: the notifications table skipped rows a listener
// had not read.
var errNotificationsLost = errors.New("notifications were deleted before they were read")

// pollNotifications delivers the notifications on channel after seq *last,
// up to the newest, and advances *last. Each batch and AUTOINCREMENT's
// counter are read in one snapshot: a counter past the last row read means
// rows were deleted unread, one before it a table that went back.
func pollNotifications(ctx context.Context, conn *sql.DB, channel string, h ListenHandler, last *int64) error {
	var payloads []string
	for {
		payloads = payloads[:0]
		n, newest, err := readNotifications(ctx, conn, channel, last, &payloads)
		if err != nil {
			return err
		}
		for _, p := range payloads {
			h.Notified(p)
		}
		if n < listenBatch {
			if newest != *last {
				return errNotificationsLost
			}
			return nil
		}
	}
}

// readNotifications reads up to listenBatch rows after *last, appending
// the payloads of channel's, and the newest seq written, in one read
// transaction. It returns how many rows it read.
func readNotifications(ctx context.Context, conn *sql.DB, channel string, last *int64, payloads *[]string) (n int, newest int64, err error) {
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT seq, channel, payload FROM notifications
		WHERE seq > $1 ORDER BY seq LIMIT $2`, *last, listenBatch)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var ch, payload string
		if err := rows.Scan(&seq, &ch, &payload); err != nil {
			return 0, 0, err
		}
		if seq != *last+1 {
			return 0, 0, errNotificationsLost
		}
		*last, n = seq, n+1
		if ch == channel {
			*payloads = append(*payloads, payload)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if err := tx.QueryRowContext(ctx, lastNotificationSQL).Scan(&newest); err != nil {
		return 0, 0, err
	}
	return n, newest, nil
}

// lastNotificationSQL reads the seq of the newest notification ever
// written: AUTOINCREMENT's counter, which deleting rows leaves as it is.
const lastNotificationSQL = `SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'notifications'`
