package audit

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"authsvc/internal/sqldb"
)

// Page sizes of List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Query selects a page of events, newest first: by Time, then by ID among
// events of the same microsecond. Its filters combine with AND.
//
// Paging is by that (time, ID) pair, and stays right when IDs are not in
// commit order, as on PostgreSQL with replicas writing at once: a batch may
// draw smaller IDs and commit after another. The cursor is a stored event's
// pair, which never changes, and ID only orders events of one microsecond.
// A walk through the pages therefore returns every event stored before it
// began exactly once (unless pruned meanwhile) and never one twice; an
// event that commits during the walk appears in it when it sorts behind
// the page being read, and otherwise only in the next walk, like any new
// event (on SQLite too, an event commits up to FlushInterval after its
// Time). Reading "IDs greater than the last one seen" to follow the trail
// would not be right: a smaller ID may commit later.
// TestListWalkWhileWriting shows both dialects.
type Query struct {
	UserID string    // only this user's events; "" = all users
	Event  string    // only this event, one of the constants; "" = all events
	Since  time.Time // only events at or after Since; zero = no bound
	Until  time.Time // only events before Until; zero = no bound
	// Limit is the page size: 0 means DefaultListLimit; at most MaxListLimit.
	Limit int
	// After is the cursor: only events that come after the event with this
	// ID, which must exist, in the order of the listing. Pass the previous
	// Page's Next; 0 starts from the newest.
	After int64
}

// Page is one page of events.
type Page struct {
	Events []Event
	// Next is the cursor for the next page, 0 when this is the last one.
	Next int64
}

// QueryError is a Query that List refuses: the caller's mistake.
type QueryError struct {
	// Field is the query parameter at fault, as the HTTP API names it:
	// "userID", "event", "since", "until", "limit" or "after".
	Field   string
	Message string
}

func (e *QueryError) Error() string { return e.Message }

// validate returns the page size of q, or a *QueryError.
func (q Query) validate() (int, error) {
	switch {
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return 0, &QueryError{Field: "limit", Message: fmt.Sprintf("limit must be from 1 to %d", MaxListLimit)}
	case q.After < 0:
		return 0, &QueryError{Field: "after", Message: "after must be a cursor from a previous page"}
	case q.Event != "" && !knownEvent(q.Event):
		return 0, &QueryError{Field: "event", Message: fmt.Sprintf("unknown event %q", q.Event)}
	case !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since):
		return 0, &QueryError{Field: "until", Message: "until must not be before since"}
	}
	if q.Limit == 0 {
		return DefaultListLimit, nil
	}
	return q.Limit, nil
}

const eventColumns = `id, occurred_at, event, app_id, user_id, actor, client_ip, request_id, expire, nonce, reason, count`

// Reader reads the audit trail of a database. It is safe for concurrent use.
type Reader struct{ db *sqldb.DB }

// NewReader returns a Reader of db's audit trail (db.Audit()), whose
// migrations must have been applied (sqldb.Open does that).
func NewReader(db *sqldb.DB) (*Reader, error) {
	if db == nil {
		return nil, errors.New("new audit reader: nil database")
	}
	return &Reader{db: db.Audit()}, nil
}

// List returns a page of the stored events that q selects, newest first. It
// fails with a *QueryError when q is invalid, or when the event of the
// cursor is gone (pruned, as the oldest events are). Events still queued in
// a Recorder are not listed yet: Recorder.Flush first to see them.
func (r *Reader) List(ctx context.Context, q Query) (Page, error) {
	return list(ctx, r.db, q)
}

func list(ctx context.Context, db *sqldb.DB, q Query) (Page, error) {
	limit, err := q.validate()
	if err != nil {
		return Page{}, err
	}
	if q.UserID != "" && field(q.UserID, MaxUserIDLen) != q.UserID {
		// No event stores such a userID (Record bounds them), and
		// PostgreSQL would refuse the invalid UTF-8 or NUL as an argument.
		return Page{}, nil
	}
	// One upper bound, the tighter of Until and the cursor, so that the
	// index range starts where the page does: only events before
	// (beforeAt, beforeID) in the listing's order.
	beforeAt, beforeID := int64(math.MaxInt64), int64(0)
	if !q.Until.IsZero() {
		beforeAt = ceilMicro(q.Until)
	}
	if q.After > 0 {
		cursorAt, err := cursorTime(ctx, db, q.After)
		if err != nil {
			return Page{}, err
		}
		if cursorAt < beforeAt {
			beforeAt, beforeID = cursorAt, q.After
		}
	}
	var since int64 = math.MinInt64
	if !q.Since.IsZero() {
		since = ceilMicro(q.Since)
	}
	rows, err := listRows(ctx, db, q, since, beforeAt, beforeID, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list audit events: %w", err)
	}
	var tokens *blockStream
	if q.Event == "" || q.Event == TokenIssued || q.Event == TokenRenewed {
		tokens = &blockStream{db: db, q: q, since: since, beforeAt: beforeAt, beforeID: beforeID}
	}
	// Both lists are newest first; merge them up to one more than a page.
	events := make([]Event, 0, min(limit+1, 128))
	for len(events) <= limit {
		var tok *Event
		if tokens != nil {
			if tok, err = tokens.peek(ctx); err != nil {
				return Page{}, fmt.Errorf("list audit events: %w", err)
			}
		}
		switch {
		case len(rows) > 0 && (tok == nil || newer(&rows[0], tok)):
			events = append(events, rows[0])
			rows = rows[1:]
		case tok != nil:
			events = append(events, *tok)
			tokens.pop()
		}
		if len(rows) == 0 && tok == nil {
			break
		}
	}
	p := Page{Events: events}
	if len(events) > limit {
		p.Events = events[:limit]
		p.Next = events[limit-1].ID
	}
	return p, nil
}

// newer reports whether a comes before b in the listing: later, or at the
// same microsecond with a larger ID.
func newer(a, b *Event) bool {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// cursorTime returns the time of the stored event with ID id, in Unix
// microseconds, or a *QueryError when there is none.
func cursorTime(ctx context.Context, db *sqldb.DB, id int64) (int64, error) {
	gone := &QueryError{Field: "after", Message: "after is not the cursor of a stored event; it may have been pruned"}
	if id < tokenIDBase {
		var at int64
		err := db.Reader.QueryRowContext(ctx, `SELECT occurred_at FROM audit_events WHERE id = $1`, id).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, gone
		}
		if err != nil {
			return 0, fmt.Errorf("list audit events: %w", err)
		}
		return at, nil
	}
	blockID := (id - tokenIDBase) >> blockIndexBits
	var kind string
	var first int64
	var data []byte
	err := db.Reader.QueryRowContext(ctx, `SELECT event, first_at, data FROM audit_token_blocks WHERE id = $1`, blockID).
		Scan(&kind, &first, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, gone
	}
	if err != nil {
		return 0, fmt.Errorf("list audit events: %w", err)
	}
	var at int64
	found := false
	err = decodeBlock(blockID, kind, first, data, func(e *Event) bool {
		if e.ID == id {
			at, found = e.Time.UnixMicro(), true
		}
		return !found
	})
	if err != nil {
		return 0, fmt.Errorf("list audit events: block %d: %w", blockID, err)
	}
	if !found {
		return 0, gone
	}
	return at, nil
}

// listRows returns up to n of the events of audit_events that q selects,
// at or after since and before (beforeAt, beforeID), newest first.
func listRows(ctx context.Context, db *sqldb.DB, q Query, since, beforeAt, beforeID int64, n int) ([]Event, error) {
	query, args := rowsQuery(db, q, since, beforeAt, beforeID)
	// n rows are all the merge can take, whether more follow or not.
	events, _, err := sqldb.Page(ctx, db.Reader, query, args, n, scanEvent)
	return events, err
}

// rowsQuery is the query of listRows, without its LIMIT.
func rowsQuery(db *sqldb.DB, q Query, since, beforeAt, beforeID int64) (string, sqldb.Args) {
	var where []string
	var args sqldb.Args
	if q.UserID != "" {
		where = append(where, "user_id = "+args.Add(q.UserID))
	}
	switch {
	case q.Event != "" && q.UserID != "":
		// Kept off the event index: a user has far fewer events than an
		// event has, which a planner without statistics cannot know.
		where = append(where, db.NoIndex("event")+" = "+args.Add(q.Event))
	case q.Event != "":
		where = append(where, "event = "+args.Add(q.Event))
	}
	if since != math.MinInt64 {
		where = append(where, "occurred_at >= "+args.Add(since))
	}
	switch {
	case beforeID > 0:
		where = append(where, "(occurred_at, id) < ("+args.Add(beforeAt)+", "+args.Add(beforeID)+")")
	case beforeAt != math.MaxInt64:
		where = append(where, "occurred_at < "+args.Add(beforeAt))
	}
	query := `SELECT ` + eventColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	return query + ` ORDER BY occurred_at DESC, id DESC`, args
}

// blockStream reads the events in blocks that a listing selects, newest
// first. Blocks are read in the order of their latest event, newest first,
// and may overlap in time (replicas write at once; a batch's events are
// sorted, but the next batch may hold an event a little older); an event
// read is held until no unread block can hold a newer one.
type blockStream struct {
	db    *sqldb.DB
	q     Query
	since int64
	// Only events before (beforeAt, beforeID) in the listing's order;
	// beforeID 0 means before beforeAt.
	beforeAt, beforeID int64

	started bool
	done    bool       // no more blocks to fetch
	fetched []blockRow // blocks fetched, not yet read, in reading order
	pending []Event    // events read, not yet taken, newest first
	add     []Event    // scratch space of read
	fetchN  int        // blocks per fetch, doubled up to maxFetch
	keyAt   int64      // the keyset of the next fetch: blocks before (keyAt, keyID)
	keyID   int64

	// A user's blocks come from the runs of audit_token_users (see
	// index.go) and from the blocks not indexed yet.
	runs     []runRow       // runs fetched, not yet read, in key order
	runsDone bool           // no more runs to fetch
	cand     []blockRow     // blocks of the runs read, and the unindexed, newest first
	seen     map[int64]bool // the blocks already in cand or read
}

// runRow is a run of audit_token_users: block id, whose latest event is at
// last, and the older blocks encoded in older.
type runRow struct {
	last, id int64
	older    []byte
}

type blockRow struct {
	id, first, last int64
	kind            string
	data            []byte
}

// maxFetch bounds the blocks read by one query; the first reads 2, enough
// for a page of the newest events.
const maxFetch = 64

// peek returns the stream's next event, nil when there is none. The Event
// is valid until pop.
func (s *blockStream) peek(ctx context.Context) (*Event, error) {
	if !s.started {
		s.started = true
		s.fetchN = 2
		// A block holding an event at or before beforeAt has its first
		// event at or before it, and its last at most blockSpan later.
		s.keyAt, s.keyID = satAdd(s.beforeAt, blockSpan.Microseconds()+1), math.MinInt64
		if s.beforeAt == math.MaxInt64 {
			s.keyAt, s.keyID = math.MaxInt64, math.MaxInt64
		}
	}
	for {
		if len(s.fetched) == 0 && !s.done {
			if err := s.fetch(ctx); err != nil {
				return nil, err
			}
		}
		if len(s.pending) > 0 {
			top := &s.pending[0]
			if len(s.fetched) == 0 {
				return top, nil
			}
			// The next block's events are all at or before its last
			// event's time, with IDs below the next block's.
			next := &s.fetched[0]
			bound := Event{Time: time.UnixMicro(next.last), ID: tokenIDBase + (next.id+1)<<blockIndexBits - 1}
			if newer(top, &bound) {
				return top, nil
			}
		}
		if len(s.fetched) == 0 {
			return nil, nil
		}
		if err := s.read(&s.fetched[0]); err != nil {
			return nil, err
		}
		s.fetched = s.fetched[1:]
	}
}

// pop drops the event peek returned.
func (s *blockStream) pop() { s.pending = s.pending[1:] }

// read decodes b's events that the listing selects into pending.
func (s *blockStream) read(b *blockRow) error {
	add := s.add[:0]
	err := decodeBlock(b.id, b.kind, b.first, b.data, func(e *Event) bool {
		at := e.Time.UnixMicro()
		switch {
		case s.q.UserID != "" && e.UserID != s.q.UserID,
			at < s.since,
			at > s.beforeAt,
			at == s.beforeAt && (s.beforeID == 0 || e.ID >= s.beforeID):
			return true
		}
		if e.Nonce != nil {
			e.Nonce = ptrTo(*e.Nonce)
		}
		add = append(add, *e)
		return true
	})
	if err != nil {
		return fmt.Errorf("block %d: %w", b.id, err)
	}
	b.data = nil
	// A block's events are stored oldest first, which newest first is
	// their reverse; then a merge keeps pending in order.
	slices.Reverse(add)
	if !slices.IsSortedFunc(add, newestFirst) {
		slices.SortFunc(add, newestFirst)
	}
	merged := make([]Event, 0, len(s.pending)+len(add))
	i, j := 0, 0
	for i < len(s.pending) || j < len(add) {
		if j == len(add) || i < len(s.pending) && newer(&s.pending[i], &add[j]) {
			merged = append(merged, s.pending[i])
			i++
		} else {
			merged = append(merged, add[j])
			j++
		}
	}
	clear(add)
	s.add, s.pending = add[:0], merged
	return nil
}

func newestFirst(a, b Event) int {
	if newer(&a, &b) {
		return -1
	}
	if newer(&b, &a) {
		return 1
	}
	return 0
}

func ptrTo[T any](v T) *T { return &v }

// fetch reads the next blocks, in the order of their latest event, newest
// first.
func (s *blockStream) fetch(ctx context.Context) error {
	if s.q.UserID != "" {
		return s.fetchUser(ctx)
	}
	query, args := blocksQuery(s.q, s.since, s.keyAt, s.keyID, s.fetchN)
	var err error
	s.fetched, s.done, err = page(ctx, s, query, args, s.fetched, func(row sqldb.Scanner) (blockRow, int64, int64, error) {
		var b blockRow
		err := row.Scan(&b.id, &b.kind, &b.first, &b.last, &b.data)
		return b, b.last, b.id, err
	})
	return err
}

// page appends to dst the rows of s's next keyset page of fetchN, scanned
// by scan, which also returns each row's key; it moves s's keyset to the
// last row's key, doubles fetchN up to maxFetch, and reports whether the
// rows ran out.
func page[T any](ctx context.Context, s *blockStream, query string, args sqldb.Args, dst []T,
	scan func(sqldb.Scanner) (T, int64, int64, error)) ([]T, bool, error) {
	rows, err := s.db.Reader.QueryContext(ctx, query, args...)
	if err != nil {
		return dst, false, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		v, at, id, err := scan(rows)
		if err != nil {
			return dst, false, err
		}
		dst = append(dst, v)
		s.keyAt, s.keyID = at, id
		n++
	}
	if err := rows.Err(); err != nil {
		return dst, false, err
	}
	done := n < s.fetchN
	s.fetchN = min(2*s.fetchN, maxFetch)
	return dst, done, nil
}

// blocksQuery selects the next n blocks of q's listing of all users: those
// before (keyAt, keyID) in the order of (latest event, ID), newest first,
// whose latest event is at or after since.
func blocksQuery(q Query, since, keyAt, keyID int64, n int) (string, sqldb.Args) {
	var args sqldb.Args
	query := `SELECT id, event, first_at, last_at, data FROM audit_token_blocks WHERE `
	if q.Event != "" {
		query += "event = " + args.Add(q.Event) + " AND "
	}
	if since != math.MinInt64 {
		query += "last_at >= " + args.Add(since) + " AND "
	}
	query += "(last_at, id) < (" + args.Add(keyAt) + ", " + args.Add(keyID) + ")" +
		" ORDER BY last_at DESC, id DESC LIMIT " + args.Add(n)
	return query, args
}

// fetchUser reads the next blocks of a user's listing into fetched, in the
// order of their latest event, newest first, or sets done. The user's
// blocks are those of the user's runs and those not indexed yet, which the
// first call reads. Runs are read in the order of their keys, each key
// being its newest block; a block read from a run goes to fetched once it
// is newer than the next run's key, as no later run can hold a newer one.
func (s *blockStream) fetchUser(ctx context.Context) error {
	if s.seen == nil {
		s.seen = make(map[int64]bool)
		// A run holding blocks before beforeAt + blockSpan has its
		// newest less than runSpan after them.
		s.keyAt, s.keyID = satAdd(s.beforeAt, (blockSpan+runSpan).Microseconds()+1), math.MinInt64
		if s.beforeAt == math.MaxInt64 {
			s.keyAt, s.keyID = math.MaxInt64, math.MaxInt64
		}
		query, args := unindexedQuery(s.q, s.since, s.beforeAt)
		if err := s.addBlocks(ctx, query, args, true); err != nil {
			return err
		}
	}
	for {
		if len(s.runs) == 0 && !s.runsDone {
			if err := s.fetchRuns(ctx); err != nil {
				return err
			}
		}
		if len(s.runs) == 0 {
			s.fetched = append(s.fetched, s.cand...)
			s.cand, s.done = nil, true
			return nil
		}
		next := s.runs[0]
		k := 0
		for k < len(s.cand) && (s.cand[k].last > next.last || s.cand[k].last == next.last && s.cand[k].id > next.id) {
			k++
		}
		if k > 0 {
			s.fetched = append(s.fetched, s.cand[:k]...)
			s.cand = slices.Delete(s.cand, 0, k)
			return nil
		}
		// No block read is newer than the next run: read the blocks of
		// the next runs, as many as hold about maxBlocksQuery blocks, so
		// that a listing holds a bounded number of blocks at once.
		var ids []int64
		used := 0
		for used < len(s.runs) && (used == 0 || len(ids) < maxBlocksQuery) {
			ru := s.runs[used]
			var err error
			if ids, err = decodeOlder(append(ids, ru.id), ru.id, ru.older); err != nil {
				return fmt.Errorf("user index run of block %d: %w", ru.id, err)
			}
			used++
		}
		s.runs = s.runs[used:]
		ids = slices.DeleteFunc(ids, func(id int64) bool { return s.seen[id] })
		for len(ids) > 0 {
			n := min(len(ids), maxBlocksQuery)
			query, args := runBlocksQuery(s.q, s.since, s.beforeAt, ids[:n])
			if err := s.addBlocks(ctx, query, args, false); err != nil {
				return err
			}
			ids = ids[n:]
		}
	}
}

// maxBlocksQuery bounds the block IDs one query of a user's listing names,
// and about the blocks it reads at once.
const maxBlocksQuery = 512

// fetchRuns reads the user's next runs, in the order of their keys, newest
// first.
func (s *blockStream) fetchRuns(ctx context.Context) error {
	query, args := runsQuery(s.q, s.since, s.keyAt, s.keyID, s.fetchN)
	var err error
	s.runs, s.runsDone, err = page(ctx, s, query, args, s.runs, func(row sqldb.Scanner) (runRow, int64, int64, error) {
		var ru runRow
		err := row.Scan(&ru.last, &ru.id, &ru.older)
		return ru, ru.last, ru.id, err
	})
	return err
}

// addBlocks adds the blocks query selects to cand, marking them seen; with
// anyUser, only those holding the user's events, found without decoding
// the rest of them.
func (s *blockStream) addBlocks(ctx context.Context, query string, args sqldb.Args, anyUser bool) error {
	rows, err := s.db.Reader.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b blockRow
		if err := rows.Scan(&b.id, &b.kind, &b.first, &b.last, &b.data); err != nil {
			return err
		}
		if s.seen[b.id] {
			continue
		}
		s.seen[b.id] = true
		if anyUser {
			// A block that does not decode names no user to the
			// indexer either: once indexed it is in no user's listing.
			if ok, err := hasUser(b.data, s.q.UserID); err != nil || !ok {
				continue
			}
		}
		s.cand = append(s.cand, b)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	slices.SortFunc(s.cand, func(a, b blockRow) int {
		if c := cmp.Compare(b.last, a.last); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	return nil
}

// runsQuery selects the next n runs of q's user: those before (keyAt,
// keyID) in key order, newest first, whose newest block's latest event is
// at or after since (a run's other blocks are older).
func runsQuery(q Query, since, keyAt, keyID int64, n int) (string, sqldb.Args) {
	var args sqldb.Args
	query := `SELECT last_at, block_id, older FROM audit_token_users WHERE user_id = ` + args.Add(q.UserID) + ` AND `
	if since != math.MinInt64 {
		query += "last_at >= " + args.Add(since) + " AND "
	}
	query += "(last_at, block_id) < (" + args.Add(keyAt) + ", " + args.Add(keyID) + ")" +
		" ORDER BY last_at DESC, block_id DESC LIMIT " + args.Add(n)
	return query, args
}

// blockFilter appends to where the conditions on the blocks b of q's
// listing: of q's event, with an event at or after since and one at or
// before beforeAt.
func blockFilter(where []string, args *sqldb.Args, q Query, since, beforeAt int64) []string {
	if q.Event != "" {
		where = append(where, "b.event = "+args.Add(q.Event))
	}
	if since != math.MinInt64 {
		where = append(where, "b.last_at >= "+args.Add(since))
	}
	if beforeAt != math.MaxInt64 {
		where = append(where, "b.first_at <= "+args.Add(beforeAt))
	}
	return where
}

// runBlocksQuery selects the blocks ids of q's listing.
func runBlocksQuery(q Query, since, beforeAt int64, ids []int64) (string, sqldb.Args) {
	var args sqldb.Args
	in := make([]any, len(ids))
	for i, id := range ids {
		in[i] = id
	}
	where := blockFilter([]string{"b.id IN (" + args.List(in...) + ")"}, &args, q, since, beforeAt)
	return `SELECT b.id, b.event, b.first_at, b.last_at, b.data FROM audit_token_blocks b WHERE ` +
		strings.Join(where, " AND "), args
}

// unindexedQuery selects the blocks of q's listing not indexed yet, whoever
// their users: a scan of the few there are.
func unindexedQuery(q Query, since, beforeAt int64) (string, sqldb.Args) {
	var args sqldb.Args
	// CROSS JOIN keeps SQLite's planner, which has no statistics, to this
	// order: scan the few waiting, look up each block.
	query := `SELECT b.id, b.event, b.first_at, b.last_at, b.data FROM audit_token_unindexed n
		CROSS JOIN audit_token_blocks b WHERE `
	where := blockFilter([]string{"b.id = n.block_id"}, &args, q, since, beforeAt)
	return query + strings.Join(where, " AND "), args
}

// satAdd is a + b, b >= 0, at most math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// ceilMicro returns t in Unix microseconds, rounded up: times are stored to
// the microsecond, so a stored time s is at or after t exactly when
// s >= ceilMicro(t), and before t exactly when s < ceilMicro(t).
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro() // rounds down
	if t.After(time.UnixMicro(us)) {
		us++
	}
	return us
}

func scanEvent(row sqldb.Scanner) (Event, error) {
	var e Event
	var at, appID int64
	var nonce sql.NullInt32
	err := row.Scan(&e.ID, &at, &e.Kind, &appID, &e.UserID, &e.Actor, &e.ClientIP, &e.RequestID,
		&e.Expire, &nonce, &e.Reason, &e.Count)
	if err != nil {
		return Event{}, err
	}
	e.Time = time.UnixMicro(at).UTC()
	e.AppID = uint32(appID)
	if nonce.Valid {
		e.Nonce = &nonce.Int32
	}
	return e, nil
}
