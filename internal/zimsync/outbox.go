// Package zimsync keeps ZIM's user profiles in step with the registry: a
// durable outbox in the database, written in the same transaction as each
// change to a user, and a Worker that sends the users it names to ZEGO's
// server API (register, or modify) with retries, backoff and leases, so that
// several replicas share the work without sending one user twice at once.
//
// It also makes revocation reach RTC, with the same machinery: Rooms
// records which rooms users hold tokens for and, when a user is disabled
// or deleted, moves those rooms into a kick-out outbox that the
// KickoutWorker sends to RTC's KickoutUser.
package zimsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"authsvc/internal/sqldb"
)

// Outbox records which users ZIM has yet to receive. It is safe for
// concurrent use.
type Outbox struct {
	db  *sqldb.DB
	now func() time.Time
}

// NewOutbox returns the outbox of db, whose migrations must have been
// applied. now is the clock of the rows' times, time.Now when nil.
func NewOutbox(db *sqldb.DB, now func() time.Time) *Outbox {
	if now == nil {
		now = time.Now
	}
	return &Outbox{db: db, now: now}
}

// enqueueChunk is how many users one upsert names: ten statements for an
// import of 1,000. In BenchmarkImportWithZIMSync (internal/users), chunks
// of 100 cost no more than 500 or 1,000 on either dialect, and less on a
// quiet machine.
const enqueueChunk = 100

// Enqueue records that the users of userIDs changed and ZIM app appID must
// receive their profile. It must be called inside tx, the transaction that
// changes the users (after their rows exist), so that the outbox commits or
// rolls back with the change. A user already waiting gets a new version, so
// a send in flight is followed by another with the newer state; a parked
// user is un-parked and due at once, since the change may be the fix.
func (o *Outbox) Enqueue(ctx context.Context, tx *sql.Tx, appID uint32, userIDs ...string) error {
	// One statement must not name a row twice: PostgreSQL refuses an
	// upsert that would update a row it inserted itself.
	ids := slices.Clone(userIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	now := o.now().UnixMicro()
	for start := 0; start < len(ids); start += enqueueChunk {
		chunk := ids[start:min(start+enqueueChunk, len(ids))]
		args := sqldb.Args{int64(appID), now}
		var b strings.Builder
		b.WriteString(`INSERT INTO zim_outbox (user_id, app_id, version, enqueued_at, next_attempt_at) VALUES `)
		for i, id := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(" + args.Add(id) + ", $1, 1, $2, $2)")
		}
		// The right-hand sides read the row as it was.
		b.WriteString(` ON CONFLICT (user_id, app_id) DO UPDATE SET
			version = zim_outbox.version + 1,
			next_attempt_at = CASE WHEN zim_outbox.parked THEN excluded.next_attempt_at ELSE zim_outbox.next_attempt_at END,
			attempts = CASE WHEN zim_outbox.parked THEN 0 ELSE zim_outbox.attempts END,
			parked = FALSE`)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("enqueue zim sync: %w", err)
		}
	}
	return nil
}

// Status is where a user stands with ZIM.
type Status string

const (
	// Unknown: the user was never enqueued for this app (created before
	// sync was turned on, and not backfilled).
	Unknown Status = ""
	// Pending: a change waits to be sent, or is being retried.
	Pending Status = "pending"
	// Synced: ZIM has the user's current profile since State.SyncedAt.
	Synced Status = "synced"
	// Failed: ZIM refused the user's profile for good (State.Code says
	// why); the next change of the user tries again.
	Failed Status = "failed"
)

// State is a user's sync state with one ZIM app.
type State struct {
	Status   Status
	SyncedAt time.Time // the last successful send; zero if none
	Code     int64     // Failed: ZEGO's code
}

// ErrNotFound means there is no such user.
var ErrNotFound = errors.New("user not found")

// State returns the sync state of user userID with app appID, derived from
// the outbox (a row is pending, or failed when parked) and from what the
// worker recorded of its last success. It is one query of three
// primary-key lookups, cheap enough beside every read of a user.
func (o *Outbox) State(ctx context.Context, appID uint32, userID string) (State, error) {
	var parked sql.NullBool
	var code, synced sql.NullInt64
	err := o.db.Reader.QueryRowContext(ctx, `SELECT o.parked, o.last_code, s.synced_at FROM users u
		LEFT JOIN zim_outbox o ON o.user_id = u.id AND o.app_id = $2
		LEFT JOIN zim_synced s ON s.user_id = u.id AND s.app_id = $2
		WHERE u.id = $1`, userID, int64(appID)).Scan(&parked, &code, &synced)
	if errors.Is(err, sql.ErrNoRows) {
		return State{}, fmt.Errorf("zim sync state of %q: %w", userID, ErrNotFound)
	}
	if err != nil {
		return State{}, fmt.Errorf("zim sync state of %q: %w", userID, err)
	}
	var st State
	if synced.Valid && synced.Int64 > 0 {
		st.SyncedAt = time.UnixMicro(synced.Int64).UTC()
	}
	switch {
	case parked.Valid && parked.Bool:
		st.Status, st.Code = Failed, code.Int64
	case parked.Valid:
		st.Status = Pending
	case !st.SyncedAt.IsZero():
		st.Status = Synced
	}
	return st, nil
}
