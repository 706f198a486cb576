package zimsync

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"authsvc/internal/sqldb"
)

// MaxRoomsPerUser is how many RTC rooms' grants a user keeps, all apps
// together: those of their most recently issued or renewed room tokens.
// A client could otherwise mint tokens for endless room IDs and grow the
// table without bound. The price: a user who holds more room tokens than
// this at once is not kicked out of the rooms of the oldest ones when
// revoked (those tokens still stop renewing, and expire).
const MaxRoomsPerUser = 100

// Rooms records which RTC rooms users hold tokens for, so that revoking a
// user (disabling or deleting them) can remove them from those rooms with
// KickoutUser: ZEGO leaves a user in a room when their token expires, and
// only a kick-out makes the revocation immediate. It is safe for
// concurrent use.
type Rooms struct {
	db  *sqldb.DB
	now func() time.Time
	max int
}

// NewRooms returns the room grants of db, whose migrations must have been
// applied. now is the clock that tells expired grants, time.Now when nil.
func NewRooms(db *sqldb.DB, now func() time.Time) *Rooms {
	if now == nil {
		now = time.Now
	}
	return &Rooms{db: db, now: now, max: MaxRoomsPerUser}
}

// Grant records that user userID holds a token of app appID for room
// roomID until expiresAt, keeping the later expiry when the room is
// already recorded, and prunes the user's expired grants and those beyond
// MaxRoomsPerUser. It reports false, recording nothing, when the user is
// disabled or does not exist: the token must then not be handed out, since
// a revocation that committed meanwhile would not know of it. On
// PostgreSQL the read of the user locks the user's row (FOR NO KEY UPDATE,
// which leaves inserts that reference the user alone): it waits for a
// disable or delete in progress, so every grant is either seen by the
// revocation or refused, and a user's grants run one at a time (two
// grants' prunes, each waiting on the row the other upserted, deadlocked).
func (r *Rooms) Grant(ctx context.Context, appID uint32, userID, roomID string, expiresAt time.Time) (bool, error) {
	now := r.now().UnixMicro()
	tx, err := r.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("record room grant: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO rtc_grants (user_id, app_id, room_id, expires_at, granted_at)
		SELECT id, CAST($2 AS BIGINT), CAST($3 AS TEXT), CAST($4 AS BIGINT), CAST($5 AS BIGINT)
		FROM users WHERE id = $1 AND disabled = FALSE`+r.db.ForNoKeyUpdate()+`
		ON CONFLICT (user_id, app_id, room_id) DO UPDATE SET granted_at = excluded.granted_at,
			expires_at = CASE WHEN excluded.expires_at > rtc_grants.expires_at THEN excluded.expires_at ELSE rtc_grants.expires_at END`,
		userID, int64(appID), roomID, expiresAt.UnixMicro(), now)
	if err != nil {
		return false, fmt.Errorf("record room grant: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record room grant: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	// A read of the user's rows by their key, at most MaxRoomsPerUser + 1
	// of them: the price of the cap, paid by room tokens only.
	_, err = tx.ExecContext(ctx, `DELETE FROM rtc_grants WHERE user_id = $1 AND (expires_at <= $2
		OR (app_id, room_id) NOT IN (SELECT app_id, room_id FROM rtc_grants WHERE user_id = $1
			ORDER BY granted_at DESC, app_id, room_id LIMIT $3))`, userID, now, r.max)
	if err != nil {
		return false, fmt.Errorf("prune room grants: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("record room grant: %w", err)
	}
	return true, nil
}

// Revoke moves the unexpired room grants of user userID into the kick-out
// outbox, one row per app, room and user, for the KickoutWorker to send,
// and forgets the user's grants. It must be called inside tx, the
// transaction that disables or deletes the user, before the user's row is
// deleted, so that the kick-outs commit or roll back with the revocation.
// A kick-out already waiting is due again at once.
func (r *Rooms) Revoke(ctx context.Context, tx *sql.Tx, userID string) error {
	now := r.now().UnixMicro()
	// The user's row first, as Grant reads it, so that on PostgreSQL the
	// two never wait for each other's rows in opposite orders (a Delete
	// reaches the user's row only after this).
	if fu := r.db.ForUpdate(); fu != "" {
		if _, err := tx.ExecContext(ctx, `SELECT id FROM users WHERE id = $1`+fu, userID); err != nil {
			return fmt.Errorf("revoke room grants: %w", err)
		}
	}
	// In key order, the order the worker's finish writes in.
	_, err := tx.ExecContext(ctx, `INSERT INTO rtc_kickouts (app_id, room_id, user_id, expires_at, version, enqueued_at, next_attempt_at)
		SELECT app_id, room_id, user_id, expires_at, 1, CAST($2 AS BIGINT), CAST($2 AS BIGINT) FROM rtc_grants
		WHERE user_id = $1 AND expires_at > $2 ORDER BY app_id, room_id
		ON CONFLICT (app_id, room_id, user_id) DO UPDATE SET version = rtc_kickouts.version + 1,
			expires_at = CASE WHEN excluded.expires_at > rtc_kickouts.expires_at THEN excluded.expires_at ELSE rtc_kickouts.expires_at END,
			attempts = 0, next_attempt_at = excluded.next_attempt_at`, userID, now)
	if err != nil {
		return fmt.Errorf("revoke room grants: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM rtc_grants WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("revoke room grants: %w", err)
	}
	return nil
}
