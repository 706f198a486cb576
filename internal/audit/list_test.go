package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	stdcmp "cmp"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
)

// listFixture stores 150 events of three users and three kinds, recorded out
// of time order and with pairs in the same microsecond, and returns them as
// stored, newest first.
func listFixture(tb testing.TB, d sqldbtest.Dialect) (*sqldb.DB, []Event) {
	tb.Helper()
	db := d.Open(tb).Audit()
	r := newTestRecorder(tb, db, Options{})
	users := []string{"alice", "bob", "ユーザー"}
	kinds := []string{TokenIssued, SessionFailed, UserUpdated}
	for i := range 150 {
		// Seconds 149, 148, ..., 100, then 0, 1, ..., 99, with every pair
		// 2k, 2k+1 in the same microsecond.
		sec := i
		if i < 50 {
			sec = 149 - i
		} else {
			sec = i - 50
		}
		r.Record(Event{
			Time:      base.Add(time.Duration(sec/2*2)*time.Second + 777*time.Nanosecond),
			Kind:      kinds[i%3],
			UserID:    users[i/3%3],
			RequestID: fmt.Sprint(i),
		})
	}
	mustClose(tb, r)

	all := storedEvents(tb, db)
	if len(all) != 150 {
		tb.Fatalf("fixture: %d events stored", len(all))
	}
	slices.SortFunc(all, func(a, b Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return stdcmp.Compare(b.ID, a.ID)
	})
	return db, all
}

// storedEvents reads every stored event, rows and blocks, without List, in
// no order.
func storedEvents(tb testing.TB, db *sqldb.DB) []Event {
	tb.Helper()
	var all []Event
	rows, err := db.Reader.Query(`SELECT ` + eventColumns + ` FROM audit_events`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, e)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	blocks, err := db.Reader.Query(`SELECT id, event, first_at, data FROM audit_token_blocks`)
	if err != nil {
		tb.Fatal(err)
	}
	defer blocks.Close()
	for blocks.Next() {
		var id, first int64
		var kind string
		var data []byte
		if err := blocks.Scan(&id, &kind, &first, &data); err != nil {
			tb.Fatal(err)
		}
		events, err := decodeCopies(id, kind, first, data)
		if err != nil {
			tb.Fatalf("block %d: %v", id, err)
		}
		all = append(all, events...)
	}
	if err := blocks.Err(); err != nil {
		tb.Fatal(err)
	}
	return all
}

func ids(es []Event) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestList(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		db, all := listFixture(t, d)
		at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second).Truncate(time.Microsecond) }
		tests := []struct {
			name  string
			q     Query
			match func(Event) bool
		}{
			{"all", Query{}, func(Event) bool { return true }},
			{"user", Query{UserID: "alice"}, func(e Event) bool { return e.UserID == "alice" }},
			{"unicode user", Query{UserID: "ユーザー"}, func(e Event) bool { return e.UserID == "ユーザー" }},
			{"no such user", Query{UserID: "nobody"}, func(Event) bool { return false }},
			{"event", Query{Event: SessionFailed}, func(e Event) bool { return e.Kind == SessionFailed }},
			{"user and event", Query{UserID: "bob", Event: TokenIssued}, func(e Event) bool { return e.UserID == "bob" && e.Kind == TokenIssued }},
			{"since is inclusive", Query{Since: at(100)}, func(e Event) bool { return !e.Time.Before(at(100)) }},
			{"until is exclusive", Query{Until: at(100)}, func(e Event) bool { return e.Time.Before(at(100)) }},
			{"since a nanosecond after", Query{Since: at(100).Add(1)}, func(e Event) bool { return e.Time.After(at(100)) }},
			{"until a nanosecond after", Query{Until: at(100).Add(1)}, func(e Event) bool { return !e.Time.After(at(100)) }},
			{"since and until", Query{Since: at(40), Until: at(110)}, func(e Event) bool { return !e.Time.Before(at(40)) && e.Time.Before(at(110)) }},
			{"since equals until", Query{Since: at(40), Until: at(40)}, func(Event) bool { return false }},
			{"user, event and times", Query{UserID: "ユーザー", Event: UserUpdated, Since: at(10), Until: at(140)}, func(e Event) bool {
				return e.UserID == "ユーザー" && e.Kind == UserUpdated && !e.Time.Before(at(10)) && e.Time.Before(at(140))
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var want []Event
				for _, e := range all {
					if tt.match(e) {
						want = append(want, e)
					}
				}
				// One page, then pages of 7 following the cursor.
				if got := listAll(t, db, tt.q); !cmp.Equal(ids(want), ids(got)) {
					t.Errorf("List(%+v) IDs = %v, want %v", tt.q, ids(got), ids(want))
				}
				q := tt.q
				q.Limit = 7
				var got []Event
				for page := 0; ; page++ {
					p, err := list(context.Background(), db, q)
					if err != nil {
						t.Fatalf("List(%+v) = %v", q, err)
					}
					got = append(got, p.Events...)
					if p.Next == 0 {
						break
					}
					if len(p.Events) != 7 || p.Next != p.Events[6].ID {
						t.Fatalf("page %d: %d events, Next = %d, want 7 events and the last one's ID", page, len(p.Events), p.Next)
					}
					q.After = p.Next
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("pages of 7 of %+v (-want +got):\n%s", tt.q, diff)
				}
			})
		}
	})
}

func TestListOrderAndCursor(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db, all := listFixture(t, d)

		// The fixture tests what it means to: TestList compares List with it.
		ties := 0
		for i := 1; i < len(all); i++ {
			if all[i].Time.Equal(all[i-1].Time) {
				ties++
			}
		}
		// Requests 0 and 1 share the newest microsecond: 0 is a token
		// event, in a block, whose IDs sort after the rows'.
		if ties == 0 || all[0].RequestID != "0" || all[1].RequestID != "1" || all[len(all)-1].RequestID != "50" {
			t.Fatalf("fixture: %d ties, newest requests %s, %s, oldest %s; want ties, 0, 1, 50", ties, all[0].RequestID, all[1].RequestID, all[len(all)-1].RequestID)
		}

		// The default page size, and a last page that is exactly full.
		p, err := list(ctx, db, Query{})
		if err != nil || len(p.Events) != DefaultListLimit || p.Next != all[DefaultListLimit-1].ID {
			t.Fatalf("List(default limit) = %d events, Next %d, %v; want %d, %d", len(p.Events), p.Next, err, DefaultListLimit, all[DefaultListLimit-1].ID)
		}
		p, err = list(ctx, db, Query{Limit: 75, After: all[74].ID})
		if err != nil || !cmp.Equal(ids(p.Events), ids(all[75:])) || p.Next != 0 {
			t.Errorf("List(last 75) = %v, Next %d, %v; want %v, Next 0", ids(p.Events), p.Next, err, ids(all[75:]))
		}
		p, err = list(ctx, db, Query{Limit: MaxListLimit})
		if err != nil || len(p.Events) != len(all) || p.Next != 0 {
			t.Errorf("List(max limit) = %d events, Next %d, %v", len(p.Events), p.Next, err)
		}

		// A cursor later than Until: Until alone bounds the page.
		until := all[len(all)/2].Time
		want := listAll(t, db, Query{Until: until})
		p, err = list(ctx, db, Query{Until: until, After: all[3].ID, Limit: MaxListLimit})
		if err != nil || !cmp.Equal(ids(p.Events), ids(want)) {
			t.Errorf("List(until, cursor later than until) = %v, %v; want %v", ids(p.Events), err, ids(want))
		}
	})
}

func TestListRejects(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		db := d.Open(t).Audit()
		tests := []struct {
			q     Query
			field string
		}{
			{Query{Limit: -1}, "limit"},
			{Query{Limit: MaxListLimit + 1}, "limit"},
			{Query{After: -1}, "after"},
			{Query{After: 12345}, "after"}, // no such event
			{Query{Event: "token.issue"}, "event"},
			{Query{Since: base, Until: base.Add(-time.Microsecond)}, "until"},
		}
		for _, tt := range tests {
			_, err := list(context.Background(), db, tt.q)
			var qe *QueryError
			if !errors.As(err, &qe) || qe.Field != tt.field || qe.Message == "" {
				t.Errorf("List(%+v) = %v, want a *QueryError for %q", tt.q, err, tt.field)
			}
		}
	})
}

func TestNewReaderNilDatabase(t *testing.T) {
	t.Parallel()
	if r, err := NewReader(nil); err == nil || r != nil {
		t.Errorf("NewReader(nil) = %v, %v; want nil and an error", r, err)
	}
}

// TestListWalkWhileWriting walks the pages while events commit behind the
// cursor, ahead of it and at its very microsecond. On PostgreSQL the late
// events draw their ids before the others and commit after the first page,
// as a slow replica's batch does: ids are not in commit order there. The
// walk must still return every event stored before it began exactly once,
// the late ones behind the cursor too, and nothing twice.
func TestListWalkWhileWriting(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		r := newTestRecorder(t, db, Options{})
		at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second).Truncate(time.Microsecond) }
		late := []Event{
			{Kind: UserCreated, RequestID: "late behind", Time: at(2).Add(time.Millisecond), Count: 1},
			{Kind: UserCreated, RequestID: "late at the cursor", Time: at(4), Count: 1},
			{Kind: UserCreated, RequestID: "late ahead", Time: at(9), Count: 1},
		}
		insertLate := func(tx *sql.Tx) {
			err := db.InsertRows(ctx, tx, "audit_events", eventInsert, len(late), func(i int) []any { return eventValues(&late[i]) })
			if err != nil {
				t.Fatal(err)
			}
		}
		var slow *sql.Tx // a replica's batch that drew its ids first
		if d.Name == sqldb.Postgres {
			var err error
			if slow, err = db.Writer.BeginTx(ctx, nil); err != nil {
				t.Fatal(err)
			}
			defer slow.Rollback()
			insertLate(slow)
		}
		var stored []Event
		for sec := 1; sec <= 5; sec++ {
			stored = append(stored, Event{Kind: TokenIssued, RequestID: fmt.Sprint("e", sec), Time: at(sec), Count: 1})
		}
		if err := r.writeBlocks(ctx, stored); err != nil {
			t.Fatal(err)
		}

		p, err := list(ctx, db, Query{Limit: 2})
		if err != nil || len(p.Events) != 2 || p.Events[1].RequestID != "e4" {
			t.Fatalf("first page = %+v, %v; want e5, e4", p, err)
		}
		walk := p.Events
		if slow != nil {
			if err := slow.Commit(); err != nil {
				t.Fatal(err)
			}
		} else {
			tx, err := db.Writer.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			insertLate(tx)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		cursor := p.Events[1]
		walk = append(walk, listAll(t, db, Query{After: p.Next})...)

		// Now stored, the events that sort behind the cursor.
		var want []string
		idOf := make(map[string]int64)
		for _, e := range listAll(t, db, Query{}) {
			idOf[e.RequestID] = e.ID
			if e.Time.Before(cursor.Time) || e.Time.Equal(cursor.Time) && e.ID < cursor.ID {
				want = append(want, e.RequestID)
			}
		}
		if d.Name == sqldb.Postgres && idOf["late ahead"] > idOf["e1"] {
			t.Errorf("the late batch drew ids up to %d, after e1's %d: the test does not test what it means to", idOf["late ahead"], idOf["e1"])
		}
		var got []string
		seen := make(map[string]bool)
		for _, e := range walk[2:] {
			got = append(got, e.RequestID)
			if seen[e.RequestID] {
				t.Errorf("the walk returned %s twice", e.RequestID)
			}
			seen[e.RequestID] = true
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages after the cursor (-want +got):\n%s", diff)
		}
		for _, id := range []string{"e1", "e2", "e3", "late behind"} {
			if !seen[id] {
				t.Errorf("the walk missed %s, stored behind the cursor", id)
			}
		}
		if seen["late ahead"] {
			t.Error("the walk returned an event newer than its first page")
		}
		t.Logf("walk after the cursor: %v", got)
	})
}
