package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/testlog"
)

// base is a time with nanoseconds, which storage truncates to microseconds.
var base = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

// testClock reads a settable time.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := new(testClock)
	c.Set(t)
	return c
}

func (c *testClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// newTestRecorder returns a Recorder on db that is closed at the end of the
// test, before db. It prunes only when asked, unless opts say otherwise.
func newTestRecorder(tb testing.TB, db *sqldb.DB, opts Options) *Recorder {
	tb.Helper()
	if opts.PruneEvery == 0 {
		opts.PruneEvery = -1
	}
	r := NewRecorder(db, opts)
	tb.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// mustClose closes r, waiting as long as it takes: a deadline would make
// the test depend on the machine's speed (go test's -timeout still holds).
func mustClose(tb testing.TB, r *Recorder) {
	tb.Helper()
	if err := r.Close(context.Background()); err != nil {
		tb.Fatalf("Close() = %v", err)
	}
}

// listAll returns every event q selects, walking the pages.
func listAll(tb testing.TB, db *sqldb.DB, q Query) []Event {
	tb.Helper()
	q.Limit = MaxListLimit
	var all []Event
	for {
		p, err := list(context.Background(), db, q)
		if err != nil {
			tb.Fatalf("List(%+v) = %v", q, err)
		}
		all = append(all, p.Events...)
		if p.Next == 0 {
			return all
		}
		q.After = p.Next
	}
}

func ptr[T any](v T) *T { return &v }

// sameEvents compares events whatever their order and IDs.
var sameEvents = cmp.Options{
	cmpopts.IgnoreFields(Event{}, "ID"),
	cmpopts.SortSlices(func(a, b Event) bool { return a.RequestID < b.RequestID }),
}

func TestRecordCloseWritesEverything(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		db := d.Open(t).Audit()
		clock := newTestClock(base)
		r := newTestRecorder(t, db, Options{BatchSize: 13, Now: clock.Now})

		const goroutines, each = 8, 100
		nonces := []*int32{nil, ptr[int32](0), ptr[int32](-2147483648), ptr[int32](2147483647), ptr[int32](42)}
		want := make([]Event, 0, goroutines*each)
		for g := range goroutines {
			for i := range each {
				n := g*each + i
				e := Event{
					Kind:      TokenIssued,
					AppID:     uint32(n) * 5_000_000, // up to the top of uint32
					UserID:    fmt.Sprintf("ユーザー-%d-😀", n),
					Actor:     "idp:https://issuer.example#sub|" + fmt.Sprint(n),
					ClientIP:  "2001:db8::1",
					RequestID: fmt.Sprintf("req-%05d", n),
					Expire:    1767323045 + int64(n),
					Nonce:     nonces[n%len(nonces)],
					Reason:    "",
					Count:     1,
				}
				switch n % 3 {
				case 0: // the Recorder's clock
				case 1:
					e.Time = base.Add(time.Duration(n) * time.Nanosecond).In(time.FixedZone("X", 3600))
				case 2: // every optional field empty
					e = Event{Kind: SessionFailed, RequestID: e.RequestID, Reason: "invalid_credentials", Count: 1}
				}
				want = append(want, e)
			}
		}
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for _, e := range want[g*each : (g+1)*each] {
					r.Record(e)
				}
			})
		}
		wg.Wait()
		mustClose(t, r)

		for i := range want {
			if want[i].Time.IsZero() {
				want[i].Time = base
			}
			want[i].Time = want[i].Time.UTC().Truncate(time.Microsecond)
		}
		got := listAll(t, db, Query{})
		if diff := cmp.Diff(want, got, sameEvents); diff != "" {
			t.Errorf("stored events (-want +got):\n%s", diff)
		}
		if s := r.Stats(); s != (Stats{Written: goroutines * each}) {
			t.Errorf("Stats() = %+v, want %d written", s, goroutines*each)
		}
	})
}

// The tests below that involve time run in a synctest bubble: its clock
// moves only when every goroutine in it waits, so they never race the wall
// clock on a loaded machine. A database write takes no bubble time.

func TestRecordFlushesAfterInterval(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			const interval = 10 * time.Millisecond
			r := newTestRecorder(t, db, Options{FlushInterval: interval})
			r.Record(Event{Kind: UserCreated, UserID: "alice"})
			time.Sleep(interval - time.Nanosecond)
			synctest.Wait()
			if got := listAll(t, db, Query{}); len(got) != 0 {
				t.Fatalf("%d events stored before the flush interval, want 0", len(got))
			}
			time.Sleep(time.Nanosecond)
			synctest.Wait()
			got := listAll(t, db, Query{})
			if len(got) != 1 || got[0].UserID != "alice" || !got[0].Time.Equal(time.Now().Add(-interval)) {
				t.Errorf("stored %+v, want alice's event of %v", got, time.Now().Add(-interval))
			}
			if s := r.Stats(); s != (Stats{Written: 1}) {
				t.Errorf("Stats() = %+v, want 1 written", s)
			}
		})
	})
}

// TestCloseUnderLoad closes the Recorder while goroutines go on recording.
// Every event whose Record returned true before Close was called must be
// stored; every other one must be stored or counted as Dropped.
func TestCloseUnderLoad(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		for _, opts := range []Options{
			{QueueSize: 1024, BatchSize: 128},
			{QueueSize: 16, BatchSize: 4}, // most Records find the queue full
		} {
			t.Run(fmt.Sprintf("queue=%d", opts.QueueSize), func(t *testing.T) {
				t.Parallel()
				db := d.Open(t).Audit()
				r := newTestRecorder(t, db, opts)

				const goroutines, before, after = 8, 500, 100
				accepted := make([][]string, goroutines) // before Close, per goroutine
				attempted := make([]int, goroutines)
				var ready, done sync.WaitGroup
				ready.Add(goroutines)
				closing := make(chan struct{})
				for g := range goroutines {
					done.Go(func() {
						for i := range before + after {
							if i == before {
								ready.Done()
								<-closing
							}
							id := fmt.Sprintf("g%d-%d", g, i)
							ok := r.Record(Event{Kind: TokenRenewed, UserID: "u", RequestID: id})
							attempted[g]++
							if ok && i < before {
								accepted[g] = append(accepted[g], id)
							}
						}
					})
				}
				ready.Wait()
				closed := make(chan struct{})
				go func() {
					mustClose(t, r)
					close(closed)
				}()
				close(closing) // the late Records race Close
				done.Wait()
				<-closed

				stored := make(map[string]bool)
				for _, e := range listAll(t, db, Query{}) {
					stored[e.RequestID] = true
				}
				var nAttempted int
				for g := range goroutines {
					nAttempted += attempted[g]
					for _, id := range accepted[g] {
						if !stored[id] {
							t.Fatalf("event %s accepted before Close was called is not stored", id)
						}
					}
				}
				s := r.Stats()
				if s.Written != uint64(len(stored)) || s.Failed != 0 || s.Written+s.Dropped != uint64(nAttempted) {
					t.Errorf("Stats() = %+v; %d stored, %d Records", s, len(stored), nAttempted)
				}
			})
		}
	})
}

// holdWriter takes the database's one writer connection until the test
// releases it, so that the Recorder's writes wait: a stalled disk.
//
// On PostgreSQL the writer is a pool, which it shrinks to one connection
// first: a writer waiting for the pool is what a stalled server looks like
// to the Recorder, once every connection is stuck. (A write stuck on a lock
// in the server would not do in a synctest bubble: a goroutine waiting on
// the network is not durably blocked.) Reads share that pool there, so the
// test must release before it lists.
func holdWriter(tb testing.TB, db *sqldb.DB) (release func()) {
	tb.Helper()
	if db.Dialect() == sqldb.Postgres {
		db.Writer.SetMaxOpenConns(1)
	}
	tx, err := db.Writer.BeginTx(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback() }) }
	tb.Cleanup(release)
	return release
}

// TestRecordNeverWaitsForAStalledWriter fills the queue while the writer
// is stalled. Record must return at once (in the bubble no time passes; a
// Record that waited would deadlock it) and count what it cannot queue.
func TestRecordNeverWaitsForAStalledWriter(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			const queue = 4
			r := newTestRecorder(t, db, Options{QueueSize: queue, BatchSize: 1})
			release := holdWriter(t, db)
			r.Record(Event{Kind: UserCreated, RequestID: "0"})
			synctest.Wait() // the writer has taken it and waits for the connection
			start := time.Now()
			var refused []string
			for i := 1; i <= 3*queue; i++ {
				id := fmt.Sprint(i)
				if !r.Record(Event{Kind: UserCreated, RequestID: id}) {
					refused = append(refused, id)
				}
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("Records on a full queue took %v, want no time at all", d)
			}
			// Queued counts the event in the writer's hands too.
			if s := r.Stats(); s != (Stats{Dropped: 2 * queue, Queued: queue + 1}) {
				t.Errorf("Stats() = %+v, want %d dropped, %d queued", s, 2*queue, queue+1)
			}
			release()
			mustClose(t, r)
			if got := len(listAll(t, db, Query{})); got != 1+queue {
				t.Errorf("%d events stored, want %d", got, 1+queue)
			}
			if len(refused) != 2*queue || refused[0] != fmt.Sprint(queue+1) {
				t.Errorf("refused %v, want the last %d", refused, 2*queue)
			}
		})
	})
}

// TestLossWindow measures what a crash can lose: the events in memory. With
// a healthy writer an event waits FlushInterval before its write begins;
// with a stalled one the Recorder holds at most QueueSize + BatchSize
// events, queued or being written, and drops the rest, so the production
// defaults hold at most DefaultQueueSize + DefaultBatchSize events, plus
// the current tally window's rows. README.md quotes this.
func TestLossWindow(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			r := newTestRecorder(t, db, Options{})
			start := time.Now()
			r.Record(Event{Kind: TokenIssued})
			for s := r.Stats(); s.Written+s.Failed == 0; s = r.Stats() {
				time.Sleep(time.Millisecond)
				synctest.Wait()
			}
			if s := r.Stats(); s.Written != 1 {
				t.Fatalf("Stats() = %+v, want the event written", s)
			}
			if waited := time.Since(start); waited != DefaultFlushInterval {
				t.Errorf("a lone event was written after %v, want DefaultFlushInterval (%v)", waited, DefaultFlushInterval)
			}

			release := holdWriter(t, db)
			accepted := 0
			for range DefaultBatchSize { // before the writer wakes: one batch
				if r.Record(Event{Kind: TokenIssued}) {
					accepted++
				}
			}
			synctest.Wait() // the writer holds the batch and waits for the disk
			for range DefaultQueueSize + 100 {
				if r.Record(Event{Kind: TokenIssued}) {
					accepted++
				}
			}
			if want := DefaultQueueSize + DefaultBatchSize; accepted != want {
				t.Errorf("a stalled writer held %d events, want %d", accepted, want)
			}
			if s := r.Stats(); s.Dropped != 100 {
				t.Errorf("Stats() = %+v, want 100 dropped", s)
			}
			t.Logf("loss window: %v with a healthy writer; %d events with a stalled one", DefaultFlushInterval, accepted)
			release()
			mustClose(t, r)
		})
	})
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			r := newTestRecorder(t, db, Options{QueueSize: 2, BatchSize: 1})
			release := holdWriter(t, db)
			for i := range 3 {
				r.Record(Event{Kind: UserDeleted, RequestID: fmt.Sprint(i)})
				if i == 0 {
					synctest.Wait() // the writer takes the first event
				}
			}
			r.Tally(Event{Kind: SessionFailed, Reason: "rate_limited"}, false)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := r.Close(ctx)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), " 4 events not written") {
				t.Errorf("Close() = %v, want 4 events not written and context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d != 20*time.Millisecond {
				t.Errorf("Close gave up after %v, want 20ms", d)
			}
			if s := r.Stats(); s != (Stats{Dropped: 4}) {
				t.Errorf("Stats() = %+v, want 4 dropped", s)
			}
			if err2 := r.Close(context.Background()); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("second Close() = %v, want %v", err2, err)
			}
			release()
			if got := listAll(t, db, Query{}); len(got) != 0 {
				t.Errorf("%d events stored after Close gave up, want 0", len(got))
			}
		})
	})
}

func TestCloseIdempotent(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		db := d.Open(t).Audit()
		r := newTestRecorder(t, db, Options{PruneEvery: time.Hour})
		r.Record(Event{Kind: UserEnabled})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { mustClose(t, r) })
		}
		wg.Wait()
		mustClose(t, r)
		if r.Record(Event{Kind: UserEnabled}) { // refused, not a panic
			t.Error("Record after Close = true, want false")
		}
		r.Tally(Event{Kind: SessionFailed}, false)
		if err := r.Flush(context.Background()); err != nil {
			t.Errorf("Flush after Close = %v", err)
		}
		if s := r.Stats(); s != (Stats{Written: 1, Dropped: 2}) {
			t.Errorf("Stats() = %+v, want 1 written, 2 dropped", s)
		}
	})
}

func TestTally(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			const window = time.Minute
			r := newTestRecorder(t, db, Options{TallyWindow: window, MaxTallies: 3})
			start := time.Now().UTC()
			failed := func(user, ip, reason, req string) Event {
				return Event{Kind: SessionFailed, UserID: user, ClientIP: ip, Reason: reason, RequestID: req,
					AppID: 7, Expire: 99, Nonce: ptr[int32](1)}
			}
			for i := range 1000 {
				r.Tally(failed("alice", "192.0.2.1", "rate_limited", fmt.Sprint("a", i)), false)
			}
			r.Tally(failed("alice", "192.0.2.1", "invalid_credentials", "b"), false)
			r.Tally(failed("bob", "192.0.2.1", "rate_limited", "c0"), false)
			r.Tally(failed("bob", "192.0.2.1", "rate_limited", "c1"), false)
			// The map is full: others fold into one row per event and reason.
			for i := range 500 {
				r.Tally(failed(fmt.Sprint("u", i), fmt.Sprint("198.51.100.", i%256), "rate_limited", fmt.Sprint("d", i)), false)
			}
			r.Tally(failed("carol", "192.0.2.9", "invalid_credentials", "e"), false)
			if s := r.Stats(); s.Written != 0 {
				t.Fatalf("Stats() = %+v before the window ended, want nothing written", s)
			}
			time.Sleep(window)
			synctest.Wait()
			// The next window starts afresh.
			r.Tally(failed("alice", "192.0.2.1", "rate_limited", "f"), false)
			mustClose(t, r)

			got := listAll(t, db, Query{})
			want := []Event{
				{Kind: SessionFailed, UserID: "alice", ClientIP: "192.0.2.1", Reason: "rate_limited", RequestID: "a0", AppID: 7, Count: 1000, Time: start},
				{Kind: SessionFailed, UserID: "alice", ClientIP: "192.0.2.1", Reason: "invalid_credentials", RequestID: "b", AppID: 7, Count: 1, Time: start},
				{Kind: SessionFailed, UserID: "bob", ClientIP: "192.0.2.1", Reason: "rate_limited", RequestID: "c0", AppID: 7, Count: 2, Time: start},
				{Kind: SessionFailed, Reason: "rate_limited", RequestID: "", Count: 500, Time: start},
				{Kind: SessionFailed, Reason: "invalid_credentials", RequestID: "", Count: 1, Time: start},
				{Kind: SessionFailed, UserID: "alice", ClientIP: "192.0.2.1", Reason: "rate_limited", RequestID: "f", AppID: 7, Count: 1, Time: start.Add(window)},
			}
			byKey := cmpopts.SortSlices(func(a, b Event) bool {
				return fmt.Sprint(a.Time.UnixNano(), a.UserID, a.Reason) < fmt.Sprint(b.Time.UnixNano(), b.UserID, b.Reason)
			})
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Event{}, "ID"), byKey); diff != "" {
				t.Errorf("stored tallies (-want +got):\n%s", diff)
			}
			if s := r.Stats(); s != (Stats{Written: uint64(len(want))}) {
				t.Errorf("Stats() = %+v, want %d written", s, len(want))
			}
		})
	})
}

// TestTallyKeepsRegisteredUsersApart: a flood of anonymous failures (junk
// userIDs, which a client can mint without end) fills only its own share of
// the keys, so a failure about a registered user keeps its row, user and
// address included; past their own bound, registered users' events still
// keep the user.
func TestTallyKeepsRegisteredUsersApart(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			r := newTestRecorder(t, db, Options{TallyWindow: time.Hour, MaxTallies: 2})
			start := time.Now().UTC()
			for i := range 100 {
				r.Tally(Event{Kind: SessionFailed, ClientIP: fmt.Sprint("203.0.113.", i), Reason: "invalid_credentials"}, false)
			}
			r.Tally(Event{Kind: SessionFailed, UserID: "carol", ClientIP: "198.51.100.20", Reason: "invalid_credentials"}, true)
			r.Tally(Event{Kind: SessionFailed, UserID: "dave", ClientIP: "198.51.100.21", Reason: "invalid_credentials"}, true)
			for i := range 5 {
				r.Tally(Event{Kind: SessionFailed, UserID: "erin", ClientIP: fmt.Sprint("198.51.100.", 100+i), Reason: "invalid_credentials"}, true)
			}
			r.Tally(Event{Kind: SessionFailed, UserID: "frank", ClientIP: "198.51.100.30", Reason: "rate_limited"}, true)
			r.Tally(Event{Kind: SessionFailed, UserID: "grace", ClientIP: "198.51.100.31", Reason: "rate_limited"}, true)
			mustClose(t, r)

			got := listAll(t, db, Query{})
			want := []Event{
				{Kind: SessionFailed, ClientIP: "203.0.113.0", Reason: "invalid_credentials", Count: 1, Time: start},
				{Kind: SessionFailed, ClientIP: "203.0.113.1", Reason: "invalid_credentials", Count: 1, Time: start},
				{Kind: SessionFailed, Reason: "invalid_credentials", Count: 98, Time: start},
				{Kind: SessionFailed, UserID: "carol", ClientIP: "198.51.100.20", Reason: "invalid_credentials", Count: 1, Time: start},
				{Kind: SessionFailed, UserID: "dave", ClientIP: "198.51.100.21", Reason: "invalid_credentials", Count: 1, Time: start},
				{Kind: SessionFailed, UserID: "erin", Reason: "invalid_credentials", Count: 5, Time: start},
				{Kind: SessionFailed, UserID: "frank", Reason: "rate_limited", Count: 1, Time: start},
				{Kind: SessionFailed, Reason: "rate_limited", Count: 1, Time: start},
			}
			byKey := cmpopts.SortSlices(func(a, b Event) bool {
				return fmt.Sprint(a.UserID, a.ClientIP, a.Reason) < fmt.Sprint(b.UserID, b.ClientIP, b.Reason)
			})
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Event{}, "ID", "RequestID"), byKey); diff != "" {
				t.Errorf("stored tallies (-want +got):\n%s", diff)
			}
		})
	})
}

func TestFlush(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			// Without Flush, nothing would be written for an hour.
			r := newTestRecorder(t, db, Options{FlushInterval: time.Hour, TallyWindow: time.Hour, BatchSize: 3})
			for i := range 10 {
				r.Record(Event{Kind: UserUpdated, RequestID: fmt.Sprint(i)})
			}
			r.Tally(Event{Kind: SessionFailed, Reason: "invalid_credentials"}, false)
			r.Tally(Event{Kind: SessionFailed, Reason: "invalid_credentials"}, false)
			start := time.Now()
			if err := r.Flush(context.Background()); err != nil {
				t.Fatalf("Flush() = %v", err)
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("Flush took %v, want no waiting for timers", d)
			}
			got := listAll(t, db, Query{})
			if len(got) != 11 {
				t.Fatalf("%d events stored after Flush, want 11: %+v", len(got), got)
			}
			if n := len(listAll(t, db, Query{Event: SessionFailed})); n != 1 {
				t.Errorf("%d tally rows, want 1", n)
			}

			// A stalled writer: Flush waits as long as its context lets it.
			release := holdWriter(t, db)
			r.Record(Event{Kind: UserUpdated, RequestID: "stalled"})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := r.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Flush() with a stalled writer = %v, want context.DeadlineExceeded", err)
			}
			release()
			if err := r.Flush(context.Background()); err != nil {
				t.Errorf("Flush() = %v", err)
			}
			if got := len(listAll(t, db, Query{})); got != 12 {
				t.Errorf("%d events stored, want 12", got)
			}
		})
	})
}

func TestRecordBoundsFields(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		db := d.Open(t).Audit()
		r := newTestRecorder(t, db, Options{})
		long := strings.Repeat("€", 100_000) // 3 bytes each: no bound falls on a boundary
		r.Record(Event{Kind: long, UserID: long, Actor: long, ClientIP: long, RequestID: long, Reason: long})
		r.Tally(Event{Kind: SessionFailed, UserID: long, Reason: long}, false)
		mustClose(t, r)
		got := listAll(t, db, Query{})
		if len(got) != 2 {
			t.Fatalf("%d events stored, want 2", len(got))
		}
		for _, e := range got {
			for _, f := range []struct {
				name, value string
				max         int
			}{
				{"Event", e.Kind, MaxEventLen}, {"UserID", e.UserID, MaxUserIDLen}, {"Actor", e.Actor, MaxActorLen},
				{"ClientIP", e.ClientIP, MaxClientIPLen}, {"RequestID", e.RequestID, MaxRequestIDLen}, {"Reason", e.Reason, MaxReasonLen},
			} {
				if f.name == "Event" && f.value == SessionFailed {
					continue
				}
				if f.value == "" && f.name != "Actor" && f.name != "ClientIP" && f.name != "RequestID" {
					t.Errorf("%s of %s is empty", f.name, e.Kind)
				}
				if len(f.value) > f.max || !utf8.ValidString(f.value) || f.value != long[:len(f.value)] {
					t.Errorf("%s of %s is %d bytes (max %d), valid UTF-8 %v", f.name, e.Kind, len(f.value), f.max, utf8.ValidString(f.value))
				}
			}
		}
	})
}

func FuzzTruncate(f *testing.F) {
	for _, s := range []string{"", "abc", "€€€", "a😀b", "\xff\xfe", strings.Repeat("é", 40)} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<20 {
			return
		}
		got := truncate(s, n)
		if len(got) > n || !strings.HasPrefix(s, got) {
			t.Fatalf("truncate(%q, %d) = %q", s, n, got)
		}
		if len(s) <= n && got != s {
			t.Fatalf("truncate(%q, %d) = %q, want it unchanged", s, n, got)
		}
		// It never cuts a valid sequence, and gives up at most 3 bytes.
		if utf8.ValidString(s) && !utf8.ValidString(got) || len(s) > n && n-len(got) > utf8.UTFMax-1 {
			t.Fatalf("truncate(%q, %d) = %q cuts a character or too much", s, n, got)
		}
		if f := field(s, n); len(f) > n || !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0 ||
			utf8.ValidString(got) && strings.IndexByte(got, 0) < 0 && f != got {
			t.Fatalf("field(%q, %d) = %q, want at most %d bytes of UTF-8 without NUL, %q when storable", s, n, f, n, got)
		}
	})
}

// TestCountRoundTrip writes events with and without a reason and a count
// and reads them back as they were.
func TestCountRoundTrip(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		r := NewRecorder(db, Options{PruneEvery: -1})
		t.Cleanup(func() { r.Close(ctx) })
		tests := []struct {
			reason string
			count  int64
		}{{"", 1}, {"rate_limited", 1}, {"rate_limited", 2}, {"", 1 << 40}, {"userName,password", 3}, {"x;count=5", 1}}
		batch := make([]Event, len(tests))
		for i, tt := range tests {
			batch[i] = Event{Time: time.UnixMicro(int64(i + 1)).UTC(), Kind: SessionFailed, Reason: tt.reason, Count: tt.count}
		}
		if err := r.writeRows(ctx, batch); err != nil {
			t.Fatal(err)
		}
		page, err := list(ctx, db, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != len(tests) {
			t.Fatalf("List() = %d events, want %d", len(page.Events), len(tests))
		}
		for i, tt := range tests {
			e := page.Events[len(tests)-1-i] // newest first
			if e.Reason != tt.reason || e.Count != tt.count {
				t.Errorf("event %d read back as reason %q, count %d; want %q, %d", i, e.Reason, e.Count, tt.reason, tt.count)
			}
		}
	})
}

func TestWriteFailureCountsFailed(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			var logs testlog.Buffer
			r := newTestRecorder(t, db, Options{BatchSize: 3, FlushInterval: time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			r.Record(Event{Kind: UserCreated, UserID: "before"})
			time.Sleep(time.Millisecond)
			synctest.Wait()
			if s := r.Stats(); s.Written != 1 {
				t.Fatalf("Stats() = %+v, want the first event written", s)
			}

			db.Close()
			for i := range 10 {
				r.Record(Event{Kind: UserCreated, UserID: "after-user-sensitive", RequestID: fmt.Sprint(i)})
			}
			mustClose(t, r)
			if s := r.Stats(); s != (Stats{Written: 1, Failed: 10}) {
				t.Errorf("Stats() = %+v, want 1 written, 10 failed", s)
			}
			out := logs.String()
			if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "audit: write failed") {
				t.Errorf("write failure not logged at error level:\n%s", out)
			}
			if strings.Contains(out, "after-user-sensitive") {
				t.Errorf("the log names event contents:\n%s", out)
			}
		})
	})
}

func TestPrune(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		db := d.Open(t).Audit()
		clock := newTestClock(base)
		r := newTestRecorder(t, db, Options{Now: clock.Now, QueueSize: 4 * pruneBatch}) // the default retention, 30 days
		cutoff := base.Add(-30 * 24 * time.Hour).Truncate(time.Microsecond)
		const old = 2*pruneBatch + 10 // several batches
		for i := range old {
			r.Record(Event{Kind: TokenIssued, UserID: fmt.Sprint("u", i%7), Time: cutoff.Add(-time.Duration(i+1) * time.Microsecond)})
		}
		r.Record(Event{Kind: UserCreated, RequestID: "at the cutoff", Time: cutoff})
		r.Record(Event{Kind: UserCreated, RequestID: "new", Time: base})
		r.Record(Event{Kind: UserCreated, RequestID: "from the future", Time: base.Add(time.Hour)})
		mustClose(t, r)
		// Close indexed the blocks: pruning deletes their users' runs.
		var runs, waiting int
		if err := db.Reader.QueryRow(`SELECT (SELECT COUNT(*) FROM audit_token_users), (SELECT COUNT(*) FROM audit_token_unindexed)`).
			Scan(&runs, &waiting); err != nil || runs == 0 || waiting != 0 {
			t.Fatalf("after Close: %d runs, %d blocks waiting, %v; want runs and none waiting", runs, waiting, err)
		}

		n, err := r.Prune(ctx)
		if err != nil || n != old {
			t.Errorf("Prune() = %d, %v, want %d", n, err, old)
		}
		var kept []string
		for _, e := range listAll(t, db, Query{}) {
			kept = append(kept, e.RequestID)
		}
		if diff := cmp.Diff([]string{"from the future", "new", "at the cutoff"}, kept); diff != "" {
			t.Errorf("events kept (-want +got):\n%s", diff)
		}
		if n, err := r.Prune(ctx); n != 0 || err != nil {
			t.Errorf("Prune() again = %d, %v, want 0", n, err)
		}
		var users int
		if err := db.Reader.QueryRow(`SELECT COUNT(*) FROM audit_token_users`).Scan(&users); err != nil || users != 0 {
			t.Errorf("%d rows of audit_token_users left by pruned blocks, %v; want none", users, err)
		}

		clock.Set(base.Add(10 * 365 * 24 * time.Hour))
		forever := NewRecorder(db, Options{Retention: -1, Now: clock.Now})
		mustClose(t, forever)
		if n, err := forever.Prune(ctx); n != 0 || err != nil {
			t.Errorf("Prune() with a negative retention = %d, %v, want 0", n, err)
		}
		if got := len(listAll(t, db, Query{})); got != 3 {
			t.Errorf("%d events after Prune with a negative retention, want 3", got)
		}
		if n, err := r.Prune(ctx); n != 3 || err != nil {
			t.Errorf("Prune() ten years later = %d, %v, want 3", n, err)
		}
	})
}

func TestRecorderPrunesOnItsOwn(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			const every = 10 * time.Millisecond
			r := newTestRecorder(t, db, Options{Retention: time.Hour, PruneEvery: every, FlushInterval: time.Millisecond})
			r.Record(Event{Kind: TokenIssued, RequestID: "old", Time: time.Now().Add(-2 * time.Hour)})
			r.Record(Event{Kind: TokenIssued, RequestID: "new"})
			time.Sleep(time.Millisecond) // written, after the first prune at the start
			synctest.Wait()
			if got := len(listAll(t, db, Query{})); got != 2 {
				t.Fatalf("%d events stored, want 2", got)
			}
			time.Sleep(every)
			synctest.Wait()
			if es := listAll(t, db, Query{}); len(es) != 1 || es[0].RequestID != "new" {
				t.Errorf("after a prune interval stored %+v, want only the new event", es)
			}
			mustClose(t, r)
		})
	})
}

func TestRecordDoesNotAllocate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		// Not parallel: testing.AllocsPerRun counts every goroutine's
		// allocations. The writer waits for the connection meanwhile.
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			r := newTestRecorder(t, db, Options{QueueSize: 1000, BatchSize: 1})
			release := holdWriter(t, db)
			defer release()
			e := Event{Kind: TokenIssued, AppID: 1, UserID: "alice", Actor: "user:alice", ClientIP: "203.0.113.7",
				RequestID: "r", Expire: 1767323045, Nonce: ptr[int32](7)}
			r.Record(e)
			synctest.Wait() // the writer waits for the connection
			if n := testing.AllocsPerRun(500, func() { r.Record(e) }); n != 0 {
				t.Errorf("Record allocates %v times per call, want 0", n)
			}
			if n := testing.AllocsPerRun(500, func() { r.Tally(e, false) }); n != 0 {
				t.Errorf("Tally of a held key allocates %v times per call, want 0", n)
			}
		})
	})
}

// TestRecordStoresAnyBytes: PostgreSQL refuses text with a NUL byte or
// invalid UTF-8, and one such event would fail its whole batch, other
// clients' events included. Record and Tally make every field storable.
func TestRecordStoresAnyBytes(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		db := d.Open(t).Audit()
		r := newTestRecorder(t, db, Options{BatchSize: 100})
		bad := "a\x00b\xffc\xc3"
		r.Record(Event{Kind: TokenVerifyFailed, UserID: bad, Actor: bad, ClientIP: bad, RequestID: "bad", Reason: bad})
		r.Record(Event{Kind: TokenIssued, UserID: "alice", RequestID: "good"})
		r.Tally(Event{Kind: SessionFailed, UserID: bad, RequestID: "tally"}, false)
		mustClose(t, r)
		if s := r.Stats(); s != (Stats{Written: 3}) {
			t.Errorf("Stats() = %+v, want 3 written", s)
		}
		got := listAll(t, db, Query{})
		if len(got) != 3 {
			t.Fatalf("%d events stored, want 3", len(got))
		}
		for _, e := range got {
			for _, f := range []string{e.UserID, e.Actor, e.ClientIP, e.Reason} {
				if f != "" && f != "alice" && f != "a\uFFFDb\uFFFDc\uFFFD" {
					t.Errorf("event %s stored a field as %q, want %q", e.RequestID, f, "a\uFFFDb\uFFFDc\uFFFD")
				}
			}
		}
	})
}

// TestPruneReplicasAtOnce: replicas sharing a database prune at the same
// time, while one goes on writing. None fails or waits on another for
// good, and together they delete every old event exactly once.
func TestPruneReplicasAtOnce(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		dsn := d.DSN(t)
		clock := newTestClock(base)
		const replicas = 3
		rs := make([]*Recorder, replicas)
		for i := range rs {
			rs[i] = newTestRecorder(t, sqldbtest.OpenPath(t, dsn), Options{Now: clock.Now})
		}
		cutoff := base.Add(-DefaultRetention)
		const old = 6*pruneBatch + 7
		batch := make([]Event, 0, pruneBatch)
		for i := range old {
			// Token events in blocks, the others in rows: both are pruned.
			kind, write := TokenIssued, rs[0].writeBlocks
			if i%3 == 0 {
				kind, write = UserCreated, rs[0].writeRows
			}
			batch = append(batch, Event{Kind: kind, UserID: fmt.Sprint("u", i%50), Time: cutoff.Add(-time.Duration(old-i) * time.Millisecond), Count: 1})
			if len(batch) == cap(batch) || i == old-1 {
				if err := write(ctx, batch); err != nil {
					t.Fatal(err)
				}
				batch = batch[:0]
			}
		}

		start := make(chan struct{})
		var wg sync.WaitGroup
		deleted := make([]int64, replicas)
		errs := make([]error, replicas)
		for i, r := range rs {
			wg.Go(func() {
				<-start
				deleted[i], errs[i] = r.Prune(ctx)
			})
		}
		wg.Go(func() { // a replica goes on writing new events meanwhile
			<-start
			for i := range 20 {
				if err := rs[1].writeRows(ctx, []Event{{Kind: UserCreated, Time: base, RequestID: fmt.Sprint("new", i), Count: 1}}); err != nil {
					t.Error(err)
				}
			}
		})
		close(start)
		wg.Wait()

		var total int64
		for i := range rs {
			if errs[i] != nil {
				t.Errorf("replica %d: Prune() = %d, %v", i, deleted[i], errs[i])
			}
			total += deleted[i]
		}
		if total != old {
			t.Errorf("the replicas pruned %v events, %d in all, want %d", deleted, total, old)
		}
		got := listAll(t, rs[2].db, Query{})
		if len(got) != 20 || got[0].Kind != UserCreated || got[len(got)-1].Kind != UserCreated {
			t.Errorf("%d events left, want the 20 new ones", len(got))
		}
		t.Logf("pruned per replica: %v", deleted)
	})
}

// TestWriterTakesWholeBatches: a full batch is written as soon as it is
// queued, without waiting for the flush timer; when more than a batch has
// queued behind a slow write, the writer takes whole batches and leaves
// the rest for the timer, instead of writing them as a small batch (a
// block and a transaction) of their own.
func TestWriterTakesWholeBatches(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			const batch = 8
			r := newTestRecorder(t, db, Options{BatchSize: batch, QueueSize: 64, FlushInterval: time.Hour})
			record := func(n int) {
				for range n {
					if !r.Record(Event{Kind: TokenIssued, UserID: "u", AppID: 1}) {
						t.Fatal("Record refused an event")
					}
				}
			}
			check := func(what string, written uint64, queued int) {
				t.Helper()
				if s := r.Stats(); s.Written != written || s.Queued != queued {
					t.Errorf("%s: Stats() = %+v, want %d written, %d queued", what, s, written, queued)
				}
			}
			record(batch)
			synctest.Wait()
			check("a batch queued", batch, 0)

			release := holdWriter(t, db)
			record(batch)
			synctest.Wait() // the writer holds them and waits for the database
			record(batch + 3)
			release()
			synctest.Wait()
			check("a batch and 3 behind a slow write", 3*batch, 3)

			time.Sleep(time.Hour)
			synctest.Wait()
			check("the flush interval later", 3*batch+3, 0)
			mustClose(t, r)
		})
	})
}

// TestTalliesTakeNoRoomFromRecord: the tallies a writer holds (a flood of
// failed logins can make a window's worth) are not counted against the
// queue's bound, so they never push token events out.
func TestTalliesTakeNoRoomFromRecord(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			db := d.Open(t).Audit()
			const queue, batch = 4, 4
			r := newTestRecorder(t, db, Options{QueueSize: queue, BatchSize: batch})
			release := holdWriter(t, db)
			for i := range 20 {
				r.Tally(Event{Kind: SessionFailed, UserID: fmt.Sprint("u", i), Reason: "bad_password"}, true)
			}
			time.Sleep(DefaultTallyWindow)
			synctest.Wait() // the writer holds the window's tallies and waits for the database
			accepted := 0
			for range 3 * (queue + batch) {
				if r.Record(Event{Kind: UserCreated}) {
					accepted++
				}
			}
			if accepted != queue+batch {
				t.Errorf("with 20 tallies in the writer's hands, %d Records accepted, want %d", accepted, queue+batch)
			}
			release()
			mustClose(t, r)
		})
	})
}
