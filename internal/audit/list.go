package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
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

// NewReader returns a Reader of db, whose migrations must have been applied
// (sqldb.Open does that).
func NewReader(db *sqldb.DB) (*Reader, error) {
	if db == nil {
		return nil, errors.New("new audit reader: nil database")
	}
	return &Reader{db: db}, nil
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
	if !q.Since.IsZero() {
		where = append(where, "occurred_at >= "+args.Add(ceilMicro(q.Since)))
	}
	// One upper bound, the tighter of Until and the cursor, so that the
	// index range starts where the page does.
	until := int64(math.MaxInt64)
	if !q.Until.IsZero() {
		until = ceilMicro(q.Until)
	}
	var cursorAt int64
	if q.After > 0 {
		err := db.Reader.QueryRowContext(ctx, `SELECT occurred_at FROM audit_events WHERE id = $1`, q.After).Scan(&cursorAt)
		if errors.Is(err, sql.ErrNoRows) {
			return Page{}, &QueryError{Field: "after", Message: "after is not the cursor of a stored event; it may have been pruned"}
		}
		if err != nil {
			return Page{}, fmt.Errorf("list audit events: %w", err)
		}
	}
	switch {
	case q.After > 0 && cursorAt < until:
		where = append(where, "(occurred_at, id) < ("+args.Add(cursorAt)+", "+args.Add(q.After)+")")
	case until != math.MaxInt64:
		where = append(where, "occurred_at < "+args.Add(until))
	}
	query := `SELECT ` + eventColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY occurred_at DESC, id DESC`
	events, more, err := sqldb.Page(ctx, db.Reader, query, args, limit, scanEvent)
	if err != nil {
		return Page{}, fmt.Errorf("list audit events: %w", err)
	}
	p := Page{Events: events}
	if more {
		p.Next = events[len(events)-1].ID
	}
	return p, nil
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
