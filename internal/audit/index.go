package audit

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"authsvc/internal/sqldb"
)

// The user index of the token blocks is written apart from the blocks. A
// row of audit_token_users per user and block cost a B-tree insert on a
// page of its own for each distinct user of each block, written to the WAL
// at every commit: with thousands of users, most of a token event's cost,
// and growing with the trail. So a block is written with a row of
// audit_token_unindexed only, and the writer indexes the blocks waiting
// in passes of many, up to indexBatch in one transaction: a row per user
// for all the pass's blocks that hold the user's events, a run. A user
// with events in several of those blocks costs one row instead of several,
// and a page of the index is written once per pass instead of once per
// block. Once the index outgrows the page cache a pass costs about a page
// per distinct user, whatever its size, so passes are large.
//
// A run is keyed by its newest block in (last_at, id) order, like the row
// per block it replaces, and its older column lists the others, all
// within runSpan before it. A listing of a user's events reads the runs in
// the order of their keys, newest first, and holds a block back until no
// unread run can hold a newer one; it reads the blocks waiting, at most
// about indexMinBlocks or indexMaxAge of them, and keeps the user's.

// Indexing passes: a pass runs once indexMinBlocks blocks wait, or the
// oldest has waited indexMaxAge, looking every indexEvery.
const (
	indexMinBlocks = 128
	indexMaxAge    = 5 * time.Second
	indexEvery     = time.Second
	// indexBatch is the most blocks a pass indexes in one transaction,
	// up to maxBlockEvents events each.
	indexBatch = 256
	// maxPassRuns bounds the distinct users of a pass, about the rows it
	// writes: with as many users as events, a pass takes 16 blocks.
	maxPassRuns = 16384
)

// runSpan bounds how far a run's blocks are apart: every block of a run has
// its latest event less than runSpan before the run's. A listing looking
// for blocks before a time t finds them in the runs keyed before
// t + blockSpan + runSpan.
const runSpan = time.Minute

// run is one row of audit_token_users: a user's events are in block id,
// whose latest event is at last, and in the blocks older, in the order of
// their latest event, newest first.
type run struct {
	user  string
	last  int64
	id    int64
	older []int64
}

// indexedBlock is a block to index: its ID, latest event and users.
type indexedBlock struct {
	id, last int64
	users    []string
}

// buildRuns returns the runs of blocks: for each user, the user's blocks
// from the newest, cut where runSpan would be exceeded. It sorts blocks.
func buildRuns(blocks []indexedBlock) []run {
	slices.SortFunc(blocks, func(a, b indexedBlock) int {
		if c := cmp.Compare(b.last, a.last); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	span := runSpan.Microseconds()
	var runs []run
	open := make(map[string]int) // a user's open run, an index into runs
	for _, b := range blocks {
		for _, u := range b.users {
			i, ok := open[u]
			if ok && b.last > runs[i].last-span && len(runs[i].older) < indexBatch-1 {
				runs[i].older = append(runs[i].older, b.id)
				continue
			}
			open[u] = len(runs)
			runs = append(runs, run{user: u, last: b.last, id: b.id})
		}
	}
	return runs
}

// storableUsers drops from users those no event could store (Record bounds
// them with field): a block read from a file might hold one, which
// PostgreSQL would refuse as text, failing every pass, and which no
// listing can ask for.
func storableUsers(users []string) []string {
	return slices.DeleteFunc(users, func(u string) bool { return field(u, MaxUserIDLen) != u })
}

// appendOlder appends ids, the blocks of a run after first, as varint
// differences from the one before: the blocks are in the order of their
// latest event, which their IDs need not follow.
func appendOlder(buf []byte, first int64, ids []int64) []byte {
	prev := first
	for _, id := range ids {
		buf = binary.AppendVarint(buf, prev-id)
		prev = id
	}
	return buf
}

// decodeOlder appends to ids the block IDs that appendOlder wrote after
// first. Data that does not decode to valid block IDs is an error: it was
// read from a file.
func decodeOlder(ids []int64, first int64, data []byte) ([]int64, error) {
	prev := first
	for k := 0; len(data) > 0; k++ {
		d, n := binary.Varint(data)
		// A run holds at most indexBatch blocks, first included.
		if n <= 0 || d == 0 || prev-d < 1 || prev-d > maxBlockID || k == indexBatch-1 {
			return ids, errCorruptBlock
		}
		prev -= d
		ids = append(ids, prev)
		data = data[n:]
	}
	return ids, nil
}

// index runs an indexing pass when one is due, or with all (at Close) the
// passes that index every block waiting then, on the writer's goroutine, after each write of blocks and every
// indexEvery. A pass is due once indexMinBlocks blocks wait or the oldest
// has waited indexMaxAge. It takes up to indexBatch blocks, fewer when
// they hold more than maxPassRuns users, so that it holds the writer for
// a bounded time; since every write of blocks is followed by a pass while
// they are due, the blocks waiting stay about indexMinBlocks, and a writer
// that cannot keep up fills the queue, whose overflow is dropped and
// counted.
func (r *Recorder) index(all bool) {
	if err := r.indexBlocks(r.writeCtx, all); err != nil && r.writeCtx.Err() == nil {
		r.log.LogAttrs(context.Background(), slog.LevelError, "audit: indexing token blocks failed",
			slog.String("error", err.Error()))
	}
}

// indexBlocks indexes the blocks waiting, oldest first: with all, every
// one waiting when it begins, a pass per transaction; else one pass, if
// one is due (see index).
// Replicas may index at once: on PostgreSQL each pass skips the blocks
// another one holds, and on SQLite the passes take the write lock in turn.
func (r *Recorder) indexBlocks(ctx context.Context, all bool) error {
	if !all {
		// Read first, so that an idle trail costs no write transaction.
		var n int
		var oldest sql.NullInt64
		err := r.db.Reader.QueryRowContext(ctx, `SELECT COUNT(*), MIN(last_at) FROM
			(SELECT last_at FROM audit_token_unindexed ORDER BY block_id LIMIT $1) w`, indexMinBlocks).Scan(&n, &oldest)
		if err != nil {
			return fmt.Errorf("index audit blocks: %w", err)
		}
		if n == 0 || n < indexMinBlocks && oldest.Int64 > r.now().Add(-indexMaxAge).UnixMicro() {
			return nil
		}
	}
	through := maxBlockID
	if all {
		// Those waiting now: other replicas' blocks written meanwhile
		// are theirs to index, so that Close does not chase them.
		var max sql.NullInt64
		if err := r.db.Reader.QueryRowContext(ctx, `SELECT MAX(block_id) FROM audit_token_unindexed`).Scan(&max); err != nil {
			return fmt.Errorf("index audit blocks: %w", err)
		}
		through = max.Int64
	}
	for {
		n, err := r.indexPass(ctx, through)
		if err != nil {
			return fmt.Errorf("index audit blocks: %w", err)
		}
		if n == 0 || !all {
			return nil
		}
	}
}

// indexPass indexes up to indexBatch waiting blocks with IDs up to
// through, up to maxPassRuns users, in one transaction, and returns how
// many it took.
func (r *Recorder) indexPass(ctx context.Context, through int64) (int, error) {
	tx, err := r.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT block_id FROM audit_token_unindexed WHERE block_id <= $1
		ORDER BY block_id LIMIT $2`+r.db.SkipLocked(), through, indexBatch)
	if err != nil {
		return 0, err
	}
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var args sqldb.Args
	rows, err = tx.QueryContext(ctx, `SELECT id, last_at, data FROM audit_token_blocks WHERE id IN (`+args.List(ids...)+`)
		ORDER BY id`, args...)
	if err != nil {
		return 0, err
	}
	blocks := make([]indexedBlock, 0, len(ids))
	seen := make(map[string]struct{})
	users := make(map[string]struct{}) // the pass's
	taken := len(ids)                  // the IDs up to the last block taken
	for rows.Next() {
		var b indexedBlock
		var data []byte
		if err := rows.Scan(&b.id, &b.last, &data); err != nil {
			rows.Close()
			return 0, err
		}
		if b.users, err = blockUsers(data, seen); err != nil {
			// Listings of all events report it; a user's cannot find it.
			r.log.LogAttrs(ctx, slog.LevelError, "audit: a token block does not decode; its users are not indexed",
				slog.Int64("block", b.id), slog.String("error", err.Error()))
			continue
		}
		b.users = storableUsers(b.users)
		added := 0
		for _, u := range b.users {
			if _, ok := users[u]; !ok {
				added++
			}
		}
		if len(blocks) > 0 && len(users)+added > maxPassRuns {
			taken = slices.Index(ids, any(b.id))
			break
		}
		for _, u := range b.users {
			users[u] = struct{}{}
		}
		blocks = append(blocks, b)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	runs := buildRuns(blocks)
	// In the index's order, each page of it is written once, and in turn.
	slices.SortFunc(runs, func(a, b run) int {
		if c := strings.Compare(a.user, b.user); c != 0 {
			return c
		}
		if c := cmp.Compare(a.last, b.last); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	older := make([]byte, 0, 1024) // never nil: a nil []byte is NULL
	err = r.db.InsertRows(ctx, tx, "audit_token_users", []string{"user_id", "last_at", "block_id", "older"}, len(runs),
		func(i int) []any {
			ru := &runs[i]
			start := len(older)
			older = appendOlder(older, ru.id, ru.older)
			return []any{ru.user, ru.last, ru.id, older[start:len(older):len(older)]}
		})
	if err != nil {
		return 0, err
	}
	args = args[:0]
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_token_unindexed WHERE block_id IN (`+args.List(ids[:taken]...)+`)`, args...); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return taken, nil
}
