package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MaxSessionIDLen bounds a ZIM session ID as stored: ZIM's are short
// tokens, and a row must stay small whatever a callback carries.
const MaxSessionIDLen = 128

// tombstoneTTL is how long a session that went offline keeps its row, so
// that a retried older event of it is recognised as older. ZIM retries a
// callback for about a minute (after 2, 4, 8, 16 and 32 s); ten minutes
// leaves room for slow deliveries and clocks that differ.
const tombstoneTTL = 10 * time.Minute

// onlineTTL is how long a session counts as online after its last event:
// a logout or disconnection ZIM failed to deliver (the service unreachable
// past ZIM's retries) must not leave a user online, and a row, forever.
// 24 days is the longest a ZIM token lives; a session still connected
// after that has logged in again since, with a new event.
const onlineTTL = 24 * 24 * time.Hour

// prunePresence is how many stale session rows one event deletes: more than
// an event adds, so the table shrinks to the live sessions, in short
// statements whatever piled up.
const prunePresence = 100

// PresenceEvent is a ZIM login, logout or disconnection of one session.
type PresenceEvent struct {
	UserID    string
	AppID     uint32
	SessionID string // one per device; "" is a session of its own
	Online    bool   // true for a login, false for a logout or disconnection
	// At is the event's own time, as ZIM reports it: it orders the events
	// of a session whatever order they arrive in.
	At time.Time
}

// Presence is what ZIM last said of a user.
type Presence struct {
	Online bool // some session of the user is logged in to ZIM
	// LastSeenAt is the time of the user's latest ZIM login, logout or
	// disconnection; zero when ZIM never reported one.
	LastSeenAt time.Time
}

// RecordPresence applies e to the user's ZIM sessions, unless the session
// already has an event as new or newer (a retry, or an older event
// arriving late): applying the same event twice, or events out of order,
// ends in the state of the newest one. At the same instant a logout wins
// over a login. applied is false when nothing changed, including when the
// user does not exist (ZIM knows users the registry does not, or no
// longer). It never writes for an unknown user, so callbacks cannot grow
// the tables beyond the registry's users and their sessions.
func (s *Store) RecordPresence(ctx context.Context, e PresenceEvent) (applied bool, err error) {
	if err := ValidateID(e.UserID); err != nil {
		return false, nil // no such user can exist
	}
	if len(e.SessionID) > MaxSessionIDLen {
		return false, fmt.Errorf("record presence: session ID of %d bytes, more than %d", len(e.SessionID), MaxSessionIDLen)
	}
	now := s.now()
	tx, err := s.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("record presence: %w", err)
	}
	defer tx.Rollback()
	// Old tombstones, and online sessions past onlineTTL, each through its
	// index, a few at a time, and only rows nobody else is pruning:
	// callbacks on several replicas at once must not queue on them.
	// (The online terms are literals so that SQLite uses the partial
	// indexes.)
	for _, prune := range []struct {
		online string
		before time.Time
	}{{"FALSE", now.Add(-tombstoneTTL)}, {"TRUE", now.Add(-onlineTTL)}} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM zim_sessions WHERE (user_id, app_id, session_id) IN (
			SELECT user_id, app_id, session_id FROM zim_sessions WHERE online = `+prune.online+` AND seen_at < $1
			LIMIT `+fmt.Sprint(prunePresence)+s.db.SkipLocked()+`)`, prune.before.UnixMicro()); err != nil {
			return false, fmt.Errorf("record presence: prune: %w", err)
		}
	}
	at := e.At.UnixMilli()
	res, err := tx.ExecContext(ctx, `INSERT INTO zim_sessions (user_id, app_id, session_id, online, event_at, seen_at)
	SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1)
	ON CONFLICT (user_id, app_id, session_id) DO UPDATE
	SET online = excluded.online, event_at = excluded.event_at, seen_at = excluded.seen_at
	WHERE zim_sessions.event_at < excluded.event_at
	   OR (zim_sessions.event_at = excluded.event_at AND zim_sessions.online AND NOT excluded.online)`,
		e.UserID, int64(e.AppID), e.SessionID, e.Online, at, now.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("record presence: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record presence: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO zim_last_seen (user_id, last_seen_at) VALUES ($1, $2)
	ON CONFLICT (user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
	WHERE zim_last_seen.last_seen_at < excluded.last_seen_at`, e.UserID, at)
	if err != nil {
		return false, fmt.Errorf("record presence: last seen: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("record presence: commit: %w", err)
	}
	return true, nil
}

// Presence returns what ZIM last said of user id; an unknown user, or one
// ZIM never reported, is offline and never seen.
func (s *Store) Presence(ctx context.Context, id string) (Presence, error) {
	var p Presence
	var last sql.NullInt64
	err := s.db.Reader.QueryRowContext(ctx, `SELECT
	EXISTS (SELECT 1 FROM zim_sessions WHERE user_id = $1 AND online AND seen_at >= $2),
	(SELECT last_seen_at FROM zim_last_seen WHERE user_id = $1)`, id, s.now().Add(-onlineTTL).UnixMicro()).Scan(&p.Online, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return Presence{}, nil
	}
	if err != nil {
		return Presence{}, fmt.Errorf("presence of %q: %w", id, err)
	}
	if last.Valid {
		p.LastSeenAt = time.UnixMilli(last.Int64).UTC()
	}
	return p, nil
}
