package zimsync

import (
	"context"
	"fmt"
)

// backfillChunk is how many users one transaction of Backfill enqueues:
// short transactions, so a backfill of a million users never holds the
// writer (or, on PostgreSQL, many row locks) for long.
const backfillChunk = 1000

// Backfill enqueues, for ZIM app appID, the users that ZIM never received
// (neither synced nor waiting: those created before sync was turned on),
// or with all every user, in userID order and in chunks of its own
// transactions. It returns how many users it enqueued. Running it while
// the service serves is safe: a user enqueued twice is sent once.
func (o *Outbox) Backfill(ctx context.Context, appID uint32, all bool) (int64, error) {
	query := `SELECT id FROM users WHERE id > $1`
	if !all {
		query += ` AND NOT EXISTS (SELECT 1 FROM zim_synced s WHERE s.user_id = users.id AND s.app_id = $3)
			AND NOT EXISTS (SELECT 1 FROM zim_outbox b WHERE b.user_id = users.id AND b.app_id = $3)`
	}
	query += ` ORDER BY id LIMIT $2`
	var total int64
	after := ""
	for {
		args := []any{after, backfillChunk}
		if !all {
			args = append(args, int64(appID))
		}
		ids, err := o.ids(ctx, query, args...)
		if err != nil {
			return total, fmt.Errorf("backfill zim sync: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		tx, err := o.db.Writer.BeginTx(ctx, nil)
		if err != nil {
			return total, fmt.Errorf("backfill zim sync: %w", err)
		}
		err = o.Enqueue(ctx, tx, appID, ids...)
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		if err != nil {
			// A user deleted between the read and the enqueue breaks the
			// foreign key: the next run picks up where this one stopped.
			return total, fmt.Errorf("backfill zim sync: %w", err)
		}
		total += int64(len(ids))
		after = ids[len(ids)-1]
	}
}

func (o *Outbox) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := o.db.Reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
