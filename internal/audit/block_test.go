package audit

import (
	stdcmp "cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/testlog"
)

// randomTokenEvents returns n token events with fields drawn from rnd,
// edge values included, bounded as Record bounds them.
func randomTokenEvents(rnd *rand.Rand, n int) []Event {
	texts := []string{"", "alice", "alicia", "ユーザー", strings.Repeat("x", 300), "user:alice", "203.0.113.7", "2001:db8::1",
		"a1b2c3d4-1", "a1b2c3d4-10", "a1b2c3d4-9999", "expired", "\uFFFD"}
	pick := func() string { return texts[rnd.IntN(len(texts))] }
	es := make([]Event, n)
	for i := range es {
		e := Event{
			Time:      base.Add(time.Duration(rnd.Int64N(int64(3*time.Second))) - time.Second),
			Kind:      []string{TokenIssued, TokenRenewed}[rnd.IntN(2)],
			AppID:     []uint32{0, 1, 1234567890, math.MaxUint32}[rnd.IntN(4)],
			UserID:    pick(),
			Actor:     pick(),
			ClientIP:  pick(),
			RequestID: fmt.Sprint(i, pick()), // unique, to match them up
			Reason:    pick(),
			Expire:    []int64{0, base.Unix() + 86400, math.MaxInt64, math.MinInt64 + 1<<20}[rnd.IntN(4)],
		}
		switch rnd.IntN(4) {
		case 0:
			e.Nonce = ptr(int32(math.MinInt32))
		case 1:
			e.Nonce = ptr(int32(math.MaxInt32))
		case 2:
			e.Nonce = ptr(rnd.Int32())
		}
		e.Time = e.Time.Truncate(time.Microsecond)
		e.bound()
		es[i] = e
	}
	return es
}

// decodeCopies decodes every event of a block, each with its own nonce.
func decodeCopies(id int64, kind string, first int64, data []byte) ([]Event, error) {
	var got []Event
	err := decodeBlock(id, kind, first, data, func(e *Event) bool {
		c := *e
		if e.Nonce != nil {
			c.Nonce = ptr(*e.Nonce)
		}
		got = append(got, c)
		return true
	})
	return got, err
}

// decodeAll decodes every event of b, stored as block id.
func decodeAll(t *testing.T, id int64, b *block, data []byte) []Event {
	t.Helper()
	got, err := decodeCopies(id, b.kind, b.first, data)
	if err != nil {
		t.Fatalf("decodeBlock(%d) = %v", id, err)
	}
	return got
}

// TestBlockRoundTrip: what splitBlocks and encode store, decodeBlock reads
// back as it was, each event with the ID that names its block and place.
func TestBlockRoundTrip(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(7, 11))
	for round := range 20 {
		events := randomTokenEvents(rnd, 1+rnd.IntN(3000))
		want := slices.Clone(events)
		blocks := splitBlocks(events, nil)
		var got []Event
		for i := range blocks {
			b := &blocks[i]
			id := int64(1 + round*1000 + i)
			if i == 0 && round == 0 {
				id = maxBlockID
			}
			if len(b.events) > maxBlockEvents || b.last-b.first > blockSpan.Microseconds() {
				t.Fatalf("block of %d events spanning %d µs", len(b.events), b.last-b.first)
			}
			decoded := decodeAll(t, id, b, b.encode(nil))
			for j, e := range decoded {
				if e.ID != tokenIDBase+id<<blockIndexBits+int64(j) || e.ID >= 1<<53 || e.Kind != b.kind {
					t.Fatalf("event %d of block %d: ID %d, kind %s", j, id, e.ID, e.Kind)
				}
				if j > 0 && e.Time.Before(decoded[j-1].Time) {
					t.Fatalf("block %d is not in time order at event %d", id, j)
				}
			}
			got = append(got, decoded...)
		}
		opts := cmp.Options{
			cmpopts.IgnoreFields(Event{}, "ID"),
			cmpopts.SortSlices(func(a, b Event) bool { return a.RequestID < b.RequestID }),
		}
		if diff := cmp.Diff(want, got, opts); diff != "" {
			t.Fatalf("round %d (-stored +read):\n%s", round, diff)
		}
	}
}

// TestSplitBlocks: one kind per block, at most maxBlockEvents events and
// blockSpan of time each, and no more blocks than those bounds need.
func TestSplitBlocks(t *testing.T) {
	t.Parallel()
	var events []Event
	for i := range 2500 { // 2,500 issued in 2.5 s, then 3 renewed at once
		events = append(events, Event{Kind: TokenIssued, Time: base.Add(time.Duration(i) * time.Millisecond), Count: 1})
	}
	for range 3 {
		events = append(events, Event{Kind: TokenRenewed, Time: base, Count: 1})
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	rnd.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	var got []string
	for _, b := range splitBlocks(events, nil) {
		got = append(got, fmt.Sprintf("%s %d %dms", b.kind, len(b.events), (b.last-b.first)/1000))
	}
	want := []string{"token.issued 1001 1000ms", "token.issued 1001 1000ms", "token.issued 498 497ms", "token.renewed 3 0ms"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	many := make([]Event, 3000)
	for i := range many {
		many[i] = Event{Kind: TokenIssued, Time: base, Count: 1}
	}
	got = nil
	for _, b := range splitBlocks(many, nil) {
		got = append(got, fmt.Sprint(len(b.events)))
	}
	if diff := cmp.Diff([]string{"1024", "1024", "952"}, got); diff != "" {
		t.Errorf("blocks of one microsecond (-want +got):\n%s", diff)
	}
}

// FuzzDecodeBlock: a block's data comes from a file; whatever it holds,
// decodeBlock returns events within the bounds of an Event, or an error,
// and never panics, nor do blockUsers and hasUser, which read the same
// users from what decodeBlock accepts. Data that encode wrote decodes to what was
// encoded.
func FuzzDecodeBlock(f *testing.F) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		events := randomTokenEvents(rnd, 1+rnd.IntN(20))
		for _, b := range splitBlocks(events, nil) {
			f.Add(b.encode(nil), b.first)
		}
	}
	f.Add([]byte{blockFormat}, int64(0))
	f.Add([]byte{blockFormat, 0, 0}, int64(-1))
	f.Add([]byte{blockFormat, 2}, int64(0))
	f.Fuzz(func(t *testing.T, data []byte, first int64) {
		users, usersErr := blockUsers(data, make(map[string]struct{}))
		got, err := decodeCopies(42, TokenIssued, first, data)
		if err != nil {
			return
		}
		// The indexer's lean decoding reads the same users.
		b := block{events: got}
		if usersErr != nil || !slices.Equal(users, b.users()) {
			t.Fatalf("blockUsers = %q, %v; decodeBlock's users are %q", users, usersErr, b.users())
		}
		for _, u := range append(users, "nobody\x00") {
			if ok, err := hasUser(data, u); err != nil || ok != slices.Contains(users, u) {
				t.Fatalf("hasUser(%q) = %v, %v; the users are %q", u, ok, err, users)
			}
		}
		if len(got) > maxBlockEvents {
			t.Fatalf("%d events decoded, at most %d fit", len(got), maxBlockEvents)
		}
		for _, e := range got {
			if len(e.UserID) > MaxUserIDLen || len(e.Actor) > MaxActorLen || len(e.ClientIP) > MaxClientIPLen ||
				len(e.RequestID) > MaxRequestIDLen || len(e.Reason) > MaxReasonLen || e.Count != 1 {
				t.Fatalf("decoded an event past the bounds: %+v", e)
			}
		}
		// What decodes re-encodes to data that decodes the same.
		b = block{kind: TokenIssued, events: got, first: first}
		again, err := decodeCopies(42, TokenIssued, first, b.encode(nil))
		if err != nil {
			t.Fatalf("re-encoded data does not decode: %v", err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("decode, encode, decode (-first +second):\n%s", diff)
		}
	})
}

// TestListMatchesReference writes token events (blocks) and other events
// (rows) through the Recorder in many small batches, with times out of
// order across batches, ties in one microsecond and blocks overlapping in
// time, and compares every listing of random queries and page sizes, page
// after page, with the stored events filtered and sorted in the test:
// while some blocks are indexed and some wait, and once all are indexed.
func TestListMatchesReference(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		// The clock at base: the blocks are young, and wait for the indexer.
		r := newTestRecorder(t, db, Options{BatchSize: 50, Now: func() time.Time { return base }})
		rnd := rand.New(rand.NewPCG(5, 6))
		users := []string{"alice", "bob", "carol", "ユーザー", ""}
		kinds := []string{TokenIssued, TokenIssued, TokenIssued, TokenRenewed, SessionCreated, UserUpdated}
		for i := range 2000 {
			// About 1.4 s of events, each up to 1.5 s off: batches overlap.
			at := base.Add(time.Duration(i)*700*time.Microsecond + time.Duration(rnd.Int64N(int64(1500*time.Millisecond))))
			if rnd.IntN(5) == 0 {
				at = base.Add(time.Second) // ties
			}
			r.Record(Event{Time: at, Kind: kinds[rnd.IntN(len(kinds))], UserID: users[rnd.IntN(len(users))], RequestID: fmt.Sprint(i)})
			if rnd.IntN(40) == 0 {
				if err := r.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if rnd.IntN(300) == 0 {
				if err := r.indexBlocks(ctx, true); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "audit_token_unindexed"); n == 0 {
			t.Fatal("every block is indexed already: the listings would not read the blocks waiting")
		}
		compareListings(t, db, rnd, 2000, users[:len(users)-1], kinds, 3500, 40)
		if err := r.indexBlocks(ctx, true); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "audit_token_unindexed"); n != 0 {
			t.Fatalf("%d blocks wait after indexing them all", n)
		}
		var long int
		if err := db.Reader.QueryRow(`SELECT COUNT(*) FROM audit_token_users WHERE LENGTH(older) > 0`).Scan(&long); err != nil || long == 0 {
			t.Fatalf("%d runs of more than one block, %v: the test does not test runs", long, err)
		}
		compareListings(t, db, rnd, 2000, users[:len(users)-1], kinds, 3500, 40)
	})
}

// TestListRunsSplitBySpan: a user's blocks over several minutes, indexed
// in one pass, make runs cut at runSpan, which listings with cursors and
// bounds anywhere in them read right.
func TestListRunsSplitBySpan(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		// The clock at base: the blocks wait for the one pass below.
		r := newTestRecorder(t, db, Options{BatchSize: 20, Now: func() time.Time { return base }})
		rnd := rand.New(rand.NewPCG(7, 8))
		users := []string{"alice", "bob"}
		for i := range 600 {
			// Five minutes, each event up to 30 s off.
			at := base.Add(time.Duration(i)*500*time.Millisecond + time.Duration(rnd.Int64N(int64(30*time.Second))))
			r.Record(Event{Time: at, Kind: TokenIssued, UserID: users[rnd.IntN(len(users))]})
			if i%20 == 19 {
				if err := r.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.indexBlocks(ctx, true); err != nil {
			t.Fatal(err)
		}
		var runs int
		if err := db.Reader.QueryRow(`SELECT COUNT(*) FROM audit_token_users WHERE user_id = 'alice'`).Scan(&runs); err != nil {
			t.Fatal(err)
		}
		if runs < 5 {
			t.Fatalf("alice's blocks over five minutes made %d runs, want at least 5: runSpan cuts them", runs)
		}
		compareListings(t, db, rnd, 600, users, []string{TokenIssued}, 330_000, 30)
	})
}

// count returns the rows of table.
func count(t testing.TB, db *sqldb.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Reader.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// compareListings lists the n events stored in rounds of random queries
// (users, kinds, bounds within ms milliseconds after base, page sizes) and
// compares each, page after page, with the stored events filtered and
// sorted here.
func compareListings(t *testing.T, db *sqldb.DB, rnd *rand.Rand, n int, users, kinds []string, ms, rounds int) {
	t.Helper()
	ctx := context.Background()
	stored := storedEvents(t, db)
	if len(stored) != n {
		t.Fatalf("%d events stored, want %d", len(stored), n)
	}
	slices.SortFunc(stored, func(a, b Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return stdcmp.Compare(b.ID, a.ID)
	})
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	for round := range rounds {
		q := Query{Limit: []int{13, 50, 150, 1000}[rnd.IntN(4)]}
		if rnd.IntN(2) == 0 {
			q.UserID = users[rnd.IntN(len(users))]
		}
		if rnd.IntN(3) == 0 {
			q.Event = kinds[rnd.IntN(len(kinds))]
		}
		if rnd.IntN(3) == 0 {
			q.Since = at(rnd.IntN(ms))
		}
		if rnd.IntN(3) == 0 {
			q.Until = at(rnd.IntN(ms))
			if !q.Since.IsZero() && q.Until.Before(q.Since) {
				q.Since, q.Until = q.Until, q.Since
			}
		}
		var want []Event
		for _, e := range stored {
			if (q.UserID == "" || e.UserID == q.UserID) && (q.Event == "" || e.Kind == q.Event) &&
				(q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.Until.IsZero() || e.Time.Before(q.Until)) {
				want = append(want, e)
			}
		}
		var got []Event
		for page := 0; ; page++ {
			p, err := list(ctx, db, q)
			if err != nil {
				t.Fatalf("round %d: List(%+v) = %v", round, q, err)
			}
			got = append(got, p.Events...)
			if p.Next == 0 {
				break
			}
			if len(p.Events) != q.Limit || p.Next != p.Events[len(p.Events)-1].ID {
				t.Fatalf("round %d: page %d of %+v: %d events, Next %d", round, page, q, len(p.Events), p.Next)
			}
			q.After = p.Next
		}
		if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
			t.Fatalf("round %d: %+v (-want +got IDs):\n%s", round, q, diff)
		}
	}
}

// TestBoundDropsMonotonicClock: events are ordered in blocks by the times
// stored, so an event keeps no monotonic reading, which Compare would
// prefer to the wall clock.
func TestBoundDropsMonotonicClock(t *testing.T) {
	t.Parallel()
	e := Event{Time: time.Now(), Kind: TokenIssued}
	if e.Time == e.Time.Round(0) {
		t.Fatal("time.Now has no monotonic reading here: the test does not test what it means to")
	}
	e.bound()
	if e.Time != e.Time.Round(0) {
		t.Errorf("bound kept the monotonic reading: %v", e.Time)
	}
}

// TestPruneCorruptBlock: a block that does not decode is pruned like the
// others, with an error logged, instead of stopping pruning for good.
func TestPruneCorruptBlock(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		var logs testlog.Buffer
		clock := newTestClock(base)
		r := newTestRecorder(t, db, Options{Now: clock.Now, Retention: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if _, err := db.Writer.Exec(`INSERT INTO audit_token_blocks (event, first_at, last_at, events, data) VALUES ($1, $2, $3, 1, $4)`,
			TokenIssued, base.UnixMicro()-10, base.UnixMicro()-10, []byte{blockFormat, 0xff}); err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			r.Record(Event{Time: base.Add(time.Duration(i) * 2 * time.Second), Kind: TokenIssued, UserID: fmt.Sprint("u", i%7)})
		}
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Set(base.Add(48 * time.Hour))
		n, err := r.Prune(ctx)
		if err != nil || n != 101 {
			t.Errorf("Prune() = %d, %v; want 101 events pruned", n, err)
		}
		var blocks, users int
		if err := db.Reader.QueryRow(`SELECT (SELECT COUNT(*) FROM audit_token_blocks), (SELECT COUNT(*) FROM audit_token_users)`).Scan(&blocks, &users); err != nil {
			t.Fatal(err)
		}
		if blocks != 0 || users != 0 {
			t.Errorf("%d blocks and %d user rows left, want none", blocks, users)
		}
		if !strings.Contains(logs.String(), "does not decode") {
			t.Errorf("the corrupt block was not logged:\n%s", logs.String())
		}
	})
}

// TestBlockIDsNotReused: after pruning empties the blocks, new blocks take
// new IDs, so an old cursor is gone rather than naming a new event.
func TestBlockIDsNotReused(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		clock := newTestClock(base)
		r := newTestRecorder(t, db, Options{Now: clock.Now, Retention: time.Hour})
		record := func() {
			for range 3 {
				r.Record(Event{Kind: TokenIssued, UserID: "alice"})
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		record()
		p, err := list(ctx, db, Query{Limit: 1})
		if err != nil || p.Next == 0 {
			t.Fatalf("List() = %+v, %v", p, err)
		}
		clock.Set(base.Add(2 * time.Hour))
		if n, err := r.Prune(ctx); n != 3 || err != nil {
			t.Fatalf("Prune() = %d, %v; want 3", n, err)
		}
		record()
		_, err = list(ctx, db, Query{After: p.Next})
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Field != "after" {
			t.Errorf("List(after a pruned event) = %v, want a *QueryError for after", err)
		}
	})
}

// TestListUnstorableUserID: a userID no event can store (invalid UTF-8,
// NUL, too long) lists nothing, on PostgreSQL too, which would refuse it
// as an argument.
func TestListUnstorableUserID(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		db := d.Open(t).Audit()
		for _, id := range []string{"\xff", "a\x00b", strings.Repeat("u", MaxUserIDLen+1)} {
			p, err := list(context.Background(), db, Query{UserID: id})
			if err != nil || len(p.Events) != 0 || p.Next != 0 {
				t.Errorf("List(userID %q) = %+v, %v; want an empty page", id, p, err)
			}
		}
	})
}
