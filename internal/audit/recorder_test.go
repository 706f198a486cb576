package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"authsvc/internal/sqlite"
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

func mustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "audit.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// newTestRecorder returns a Recorder on db that is closed at the end of the
// test, before db. It prunes only when asked, unless opts say otherwise.
func newTestRecorder(tb testing.TB, db *sqlite.DB, opts Options) *Recorder {
	tb.Helper()
	if opts.PruneEvery == 0 {
		opts.PruneEvery = -1
	}
	r := NewRecorder(db, opts)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Close(ctx)
	})
	return r
}

func mustClose(tb testing.TB, r *Recorder) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		tb.Fatalf("Close() = %v", err)
	}
}

// listAll returns every event q selects, walking the pages.
func listAll(tb testing.TB, db *sqlite.DB, q Query) []Event {
	tb.Helper()
	q.Limit = MaxListLimit
	var all []Event
	for {
		p, err := List(context.Background(), db, q)
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
	db := mustOpenDB(t)
	clock := newTestClock(base)
	r := newTestRecorder(t, db, Options{BatchSize: 13, Now: clock.Now})

	const goroutines, each = 8, 100
	nonces := []*int32{nil, ptr[int32](0), ptr[int32](-2147483648), ptr[int32](2147483647), ptr[int32](42)}
	want := make([]Event, 0, goroutines*each)
	for g := range goroutines {
		for i := range each {
			n := g*each + i
			e := Event{
				Event:     TokenIssued,
				AppID:     uint32(n) * 5_000_000, // up to the top of uint32
				UserID:    fmt.Sprintf("ユーザー-%d-😀", n),
				Actor:     "idp:https://issuer.example#sub|" + fmt.Sprint(n),
				ClientIP:  "2001:db8::1",
				RequestID: fmt.Sprintf("req-%05d", n),
				Expire:    1767323045 + int64(n),
				Nonce:     nonces[n%len(nonces)],
				Reason:    "",
			}
			switch n % 3 {
			case 0: // the Recorder's clock
			case 1:
				e.Time = base.Add(time.Duration(n) * time.Nanosecond).In(time.FixedZone("X", 3600))
			case 2: // every optional field empty
				e = Event{Event: SessionFailed, RequestID: e.RequestID, Reason: "invalid_credentials"}
			}
			want = append(want, e)
		}
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for _, e := range want[g*each : (g+1)*each] {
				r.Record(context.Background(), e)
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
}

func TestRecordFlushesAfterInterval(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	r := newTestRecorder(t, db, Options{FlushInterval: 10 * time.Millisecond})
	r.Record(context.Background(), Event{Event: UserCreated, UserID: "alice"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := List(context.Background(), db, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) == 1 {
			if p.Events[0].UserID != "alice" || p.Events[0].Time.IsZero() {
				t.Errorf("stored %+v", p.Events[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("event not written within 5s without Close")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := r.Stats(); s.Written != 1 {
		t.Errorf("Stats() = %+v, want 1 written", s)
	}
}

// TestCloseUnderLoad closes the Recorder while goroutines record as fast as
// they can. Each goroutine notes the events whose Record returned before it
// saw that Close was about to be called: those must all be stored. Every
// other Record must be stored or counted as Dropped.
func TestCloseUnderLoad(t *testing.T) {
	t.Parallel()
	// The queues are full when Close begins, with Records blocked on them;
	// small, so that Close drains them quickly on a slow disk.
	for _, opts := range []Options{
		{QueueSize: 1024, BatchSize: 128},
		{QueueSize: 16, BatchSize: 4},
	} {
		t.Run(fmt.Sprintf("queue=%d", opts.QueueSize), func(t *testing.T) {
			t.Parallel()
			db := mustOpenDB(t)
			r := newTestRecorder(t, db, opts)

			const goroutines, afterClose = 8, 100
			var closing atomic.Bool
			acked := make([][]string, goroutines) // request IDs, per goroutine
			attempted := make([]int, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i, late := 0, 0; late < afterClose; i++ {
						id := fmt.Sprintf("g%d-%d", g, i)
						r.Record(context.Background(), Event{Event: TokenRenewed, UserID: "u", RequestID: id})
						attempted[g]++
						if closing.Load() {
							late++
						} else {
							acked[g] = append(acked[g], id)
						}
					}
				})
			}
			time.Sleep(100 * time.Millisecond)
			closing.Store(true)
			mustClose(t, r)
			wg.Wait()

			stored := make(map[string]bool)
			for _, e := range listAll(t, db, Query{}) {
				stored[e.RequestID] = true
			}
			var nAcked, nAttempted int
			for g := range goroutines {
				nAcked += len(acked[g])
				nAttempted += attempted[g]
				for _, id := range acked[g] {
					if !stored[id] {
						t.Fatalf("event %s recorded before Close was called is not stored", id)
					}
				}
			}
			s := r.Stats()
			if s.Written != uint64(len(stored)) || s.Failed != 0 || s.Written+s.Dropped != uint64(nAttempted) {
				t.Errorf("Stats() = %+v; %d stored, %d Records", s, len(stored), nAttempted)
			}
			t.Logf("%d Records, %d before Close, %d stored, %d dropped", nAttempted, nAcked, len(stored), s.Dropped)
		})
	}
}

// holdWriter takes the database's one writer connection until the test
// releases it, so that the Recorder's writes wait.
func holdWriter(tb testing.TB, db *sqlite.DB) (release func()) {
	tb.Helper()
	tx, err := db.Writer.BeginTx(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback() }) }
	tb.Cleanup(release)
	return release
}

// waitFor polls cond for up to 5 seconds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
	}
}

func TestBackpressureLosesNothing(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	r := newTestRecorder(t, db, Options{QueueSize: 1, BatchSize: 2})
	const goroutines, each = 4, 100
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				r.Record(context.Background(), Event{Event: UserUpdated, RequestID: fmt.Sprintf("%d-%d", g, i)})
			}
		})
	}
	wg.Wait()
	mustClose(t, r)
	if got := len(listAll(t, db, Query{})); got != goroutines*each {
		t.Errorf("%d events stored, want %d", got, goroutines*each)
	}
	if s := r.Stats(); s != (Stats{Written: goroutines * each}) {
		t.Errorf("Stats() = %+v, want %d written", s, goroutines*each)
	}
}

func TestRecordDropsWhenContextEndsWhileBlocked(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	r := newTestRecorder(t, db, Options{QueueSize: 1, BatchSize: 1})
	release := holdWriter(t, db)
	bg := context.Background()

	r.Record(bg, Event{Event: UserCreated, RequestID: "1"})
	waitFor(t, "the writer takes the first event", func() bool { return r.Stats().Queued == 0 })
	r.Record(bg, Event{Event: UserCreated, RequestID: "2"}) // fills the queue

	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	r.Record(ctx, Event{Event: UserCreated, RequestID: "3"})
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("Record on a full queue returned after %v, before its context ended", d)
	}
	if s := r.Stats(); s.Dropped != 1 || s.Queued != 1 {
		t.Errorf("Stats() = %+v, want 1 dropped, 1 queued", s)
	}

	// A context already done does not stop a Record that has room.
	release()
	waitFor(t, "the queue empties", func() bool { return r.Stats().Queued == 0 })
	r.Record(ctx, Event{Event: UserCreated, RequestID: "4"})
	mustClose(t, r)
	var ids []string
	for _, e := range listAll(t, db, Query{}) {
		ids = append(ids, e.RequestID)
	}
	if diff := cmp.Diff([]string{"4", "2", "1"}, ids); diff != "" {
		t.Errorf("stored request IDs, newest first (-want +got):\n%s", diff)
	}
	if s := r.Stats(); s != (Stats{Written: 3, Dropped: 1}) {
		t.Errorf("Stats() = %+v, want 3 written, 1 dropped", s)
	}
}

func TestCloseGivesUpWhenContextEnds(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	r := newTestRecorder(t, db, Options{QueueSize: 2, BatchSize: 1})
	release := holdWriter(t, db)
	bg := context.Background()
	for i := range 3 {
		r.Record(bg, Event{Event: UserDeleted, RequestID: fmt.Sprint(i)})
		if i == 0 {
			waitFor(t, "the writer takes the first event", func() bool { return r.Stats().Queued == 0 })
		}
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	err := r.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), " 3 events not written") {
		t.Errorf("Close() = %v, want 3 events not written and context.DeadlineExceeded", err)
	}
	if s := r.Stats(); s != (Stats{Dropped: 3}) {
		t.Errorf("Stats() = %+v, want 3 dropped", s)
	}
	if err2 := r.Close(bg); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Close() = %v, want %v", err2, err)
	}
	release()
	if got := listAll(t, db, Query{}); len(got) != 0 {
		t.Errorf("%d events stored after Close gave up, want 0", len(got))
	}
}

func TestCloseGivingUpReleasesBlockedRecords(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	r := newTestRecorder(t, db, Options{QueueSize: 1, BatchSize: 1})
	holdWriter(t, db)
	bg := context.Background()
	r.Record(bg, Event{Event: UserDeleted})
	waitFor(t, "the writer takes the first event", func() bool { return r.Stats().Queued == 0 })
	r.Record(bg, Event{Event: UserDeleted})
	done := make(chan struct{})
	go func() {
		r.Record(bg, Event{Event: UserDeleted}) // blocks: no room, and its context never ends
		close(done)
	}()
	time.Sleep(10 * time.Millisecond) // most likely blocked by now; if not, it is refused

	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	err := r.Close(ctx)
	if m := regexp.MustCompile(`^close audit recorder: [23] events not written: `).FindString(fmt.Sprint(err)); m == "" {
		t.Errorf("Close() = %v, want 2 or 3 events not written", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a Record blocked on the full queue did not return after Close gave up")
	}
	if s := r.Stats(); s != (Stats{Dropped: 3}) {
		t.Errorf("Stats() = %+v, want 3 dropped", s)
	}
}

func TestCloseIdempotent(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	r := newTestRecorder(t, db, Options{PruneEvery: time.Hour})
	r.Record(context.Background(), Event{Event: UserEnabled})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { mustClose(t, r) })
	}
	wg.Wait()
	mustClose(t, r)
	r.Record(context.Background(), Event{Event: UserEnabled}) // refused, not a panic
	if s := r.Stats(); s != (Stats{Written: 1, Dropped: 1}) {
		t.Errorf("Stats() = %+v, want 1 written, 1 dropped", s)
	}
}

// syncBuffer is a log destination read after the writers have stopped.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriteFailureCountsFailed(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	var logs syncBuffer
	r := newTestRecorder(t, db, Options{BatchSize: 3, FlushInterval: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	bg := context.Background()
	r.Record(bg, Event{Event: UserCreated, UserID: "before"})
	waitFor(t, "the first event is written", func() bool { return r.Stats().Written == 1 })

	db.Close()
	for i := range 10 {
		r.Record(bg, Event{Event: UserCreated, UserID: "after-user-sensitive", RequestID: fmt.Sprint(i)})
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
}

func TestPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	clock := newTestClock(base)
	r := newTestRecorder(t, db, Options{Now: clock.Now}) // the default retention, 30 days
	cutoff := base.Add(-30 * 24 * time.Hour).Truncate(time.Microsecond)
	const old = 2*pruneBatch + 10 // several batches
	for i := range old {
		r.Record(ctx, Event{Event: TokenIssued, Time: cutoff.Add(-time.Duration(i+1) * time.Microsecond)})
	}
	r.Record(ctx, Event{Event: UserCreated, RequestID: "at the cutoff", Time: cutoff})
	r.Record(ctx, Event{Event: UserCreated, RequestID: "new", Time: base})
	r.Record(ctx, Event{Event: UserCreated, RequestID: "from the future", Time: base.Add(time.Hour)})
	mustClose(t, r)

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
}

func TestRecorderPrunesOnItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	r := newTestRecorder(t, db, Options{Retention: time.Hour, PruneEvery: 10 * time.Millisecond, FlushInterval: time.Millisecond})
	now := time.Now()
	r.Record(ctx, Event{Event: TokenIssued, RequestID: "old", Time: now.Add(-2 * time.Hour)})
	r.Record(ctx, Event{Event: TokenIssued, RequestID: "new"})
	waitFor(t, "the old event is pruned", func() bool {
		es := listAll(t, db, Query{})
		return len(es) == 1 && es[0].RequestID == "new"
	})
	mustClose(t, r)
}

func TestRecordDoesNotAllocate(t *testing.T) {
	// Not parallel: testing.AllocsPerRun counts every goroutine's
	// allocations. The writer waits for the connection meanwhile.
	db := mustOpenDB(t)
	r := newTestRecorder(t, db, Options{QueueSize: 1000, BatchSize: 1})
	release := holdWriter(t, db)
	defer release()
	ctx, cancel := context.WithCancel(context.Background()) // as a request's
	defer cancel()
	e := Event{Event: TokenIssued, AppID: 1, UserID: "alice", Actor: "user:alice", ClientIP: "203.0.113.7",
		RequestID: "r", Expire: 1767323045, Nonce: ptr[int32](7)}
	r.Record(ctx, e)
	waitFor(t, "the writer waits for the connection", func() bool { return r.Stats().Queued == 0 })
	if n := testing.AllocsPerRun(500, func() { r.Record(ctx, e) }); n != 0 {
		t.Errorf("Record allocates %v times per call, want 0", n)
	}
}
