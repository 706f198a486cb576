package zimsync_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/testlog"
	"authsvc/internal/users"
	"authsvc/internal/zimsync"
)

// fakeRTC is RTC's KickoutUser as the Kicker sees it: it records every
// call as "room:user,user", and how many calls of one (room, user) were
// ever in flight at once.
type fakeRTC struct {
	mu        sync.Mutex
	calls     []string
	inflight  map[string]int
	maxFlight int
	// fail, when set, answers a call instead of success.
	fail func(room string, ids []string) (zimsync.Result, error, bool)
	// gate, when set, holds every call until it is closed or the call's
	// context ends; started gets a value (if there is room) as a call
	// begins.
	gate    chan struct{}
	started chan struct{}
}

func newRTC() *fakeRTC {
	return &fakeRTC{inflight: map[string]int{}, started: make(chan struct{}, 1)}
}

func (f *fakeRTC) Kickout(ctx context.Context, room string, ids []string, reason string) (zimsync.Result, error) {
	if room == "" || len(ids) == 0 || len(ids) > 5 || reason != zimsync.DefaultKickoutReason {
		return zimsync.Result{}, fmt.Errorf("kickout of %d users from %q for %q", len(ids), room, reason)
	}
	f.mu.Lock()
	for _, id := range ids {
		f.inflight[room+"/"+id]++
		f.maxFlight = max(f.maxFlight, f.inflight[room+"/"+id])
	}
	f.calls = append(f.calls, room+":"+strings.Join(ids, ","))
	gate, fail := f.gate, f.fail
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		for _, id := range ids {
			f.inflight[room+"/"+id]--
		}
		f.mu.Unlock()
	}()
	select {
	case f.started <- struct{}{}:
	default:
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return zimsync.Result{}, ctx.Err()
		}
	}
	for range 3 { // room for another worker to overlap, if it could
		runtime.Gosched()
	}
	if fail != nil {
		if r, err, ok := fail(room, ids); ok {
			return r, err
		}
	}
	return zimsync.Result{Outcome: zimsync.OK}, nil
}

func (f *fakeRTC) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// rtcEnv is a users store whose revocations feed the kick-out outbox, as
// cmd wires it, on a fake clock.
type rtcEnv struct {
	db    *sqldb.DB
	rooms *zimsync.Rooms
	store *users.Store
	clock *fakeClock
}

func newRTCEnv(t *testing.T, db *sqldb.DB, c *fakeClock) *rtcEnv {
	t.Helper()
	rooms := zimsync.NewRooms(db, c.Now)
	store, err := users.NewStore(db, users.Options{Now: c.Now, Hash: users.HashParams{Memory: 64, Time: 1, Threads: 1},
		OnRevoke: rooms.Revoke})
	if err != nil {
		t.Fatal(err)
	}
	return &rtcEnv{db: db, rooms: rooms, store: store, clock: c}
}

// users creates users with a grant each for the rooms, valid for an hour.
func (e *rtcEnv) users(t *testing.T, ids []string, rooms ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := e.store.Create(context.Background(), users.CreateParams{ID: id}); err != nil {
			t.Fatal(err)
		}
		for _, r := range rooms {
			e.grant(t, id, r, time.Hour)
		}
	}
}

func (e *rtcEnv) grant(t *testing.T, user, room string, valid time.Duration) {
	t.Helper()
	if ok, err := e.rooms.Grant(context.Background(), app, user, room, e.clock.Now().Add(valid)); err != nil || !ok {
		t.Fatalf("Grant(%s, %s) = %v, %v; want true, nil", user, room, ok, err)
	}
}

func (e *rtcEnv) disable(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := e.store.SetDisabled(context.Background(), id, true); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *rtcEnv) kicker(t *testing.T, db *sqldb.DB, id string, k zimsync.Kicker, reg prometheus.Registerer) *zimsync.KickoutWorker {
	t.Helper()
	w, err := zimsync.NewKickoutWorker(zimsync.KickoutConfig{DB: db, Clock: e.clock, ID: id, Registerer: reg,
		Logger:  slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)),
		Kickers: func() map[uint32]zimsync.Kicker { return map[uint32]zimsync.Kicker{app: k} }})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// rows returns "user@room" of the table's rows.
func (e *rtcEnv) rows(t *testing.T, table string) []string {
	t.Helper()
	rs, err := e.db.Reader.Query(`SELECT user_id, room_id FROM ` + table + ` ORDER BY user_id, room_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var got []string
	for rs.Next() {
		var u, r string
		if err := rs.Scan(&u, &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, u+"@"+r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func kickRound(t *testing.T, w *zimsync.KickoutWorker) int {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	return n
}

// counter returns the value of counter name with the label value label
// ("" for a counter without labels) in reg, 0 when absent.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 && label == "" || len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestKickoutOnDisableAndDelete: disabling or deleting a user kicks them
// out of every room they hold an unexpired token for, five users of a
// room a call, and of no other; enabling kicks no one.
func TestKickoutOnDisableAndDelete(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newRTCEnv(t, d.Open(t), newClock())
		reg := prometheus.NewRegistry()
		rtc := newRTC()
		w := e.kicker(t, e.db, "w1", rtc, reg)
		crowd := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7"}
		e.users(t, crowd, "hall")
		e.users(t, []string{"ann", "ben"}, "hall", "stage")
		e.grant(t, "ann", "gone", -time.Second) // expired: nothing to kick

		if _, err := e.store.SetDisabled(context.Background(), "ben", false); err != nil { // enabling an enabled user
			t.Fatal(err)
		}
		if n := kickRound(t, w); n != 0 {
			t.Errorf("a round before any revocation claimed %d rows, want 0", n)
		}
		e.disable(t, append([]string{"ann"}, crowd...)...)
		if err := e.store.Delete(context.Background(), "ben"); err != nil {
			t.Fatal(err)
		}
		if n := kickRound(t, w); n != 11 {
			t.Errorf("RunOnce claimed %d rows, want 11", n)
		}
		want := []string{"hall:ann,ben,u1,u2,u3", "hall:u4,u5,u6,u7", "stage:ann,ben"}
		if diff := cmp.Diff(want, rtc.takeCalls()); diff != "" {
			t.Errorf("KickoutUser calls (-want +got):\n%s", diff)
		}
		for _, table := range []string{"rtc_kickouts", "rtc_grants"} {
			if got := e.rows(t, table); len(got) != 0 {
				t.Errorf("%s holds %v after the kick-outs, want nothing", table, got)
			}
		}
		if got := counter(t, reg, "authsvc_rtc_kickouts_total", ""); got != 11 {
			t.Errorf("kick-outs counted = %v, want 11", got)
		}

		// Enabled again, ann gets a new room token; enabling kicks no one,
		// a second disable kicks her out of the new room only.
		if _, err := e.store.SetDisabled(context.Background(), "ann", false); err != nil {
			t.Fatal(err)
		}
		e.grant(t, "ann", "club", time.Hour)
		kickRound(t, w)
		if got := rtc.takeCalls(); len(got) != 0 {
			t.Errorf("calls after an enable = %v, want none", got)
		}
		e.disable(t, "ann")
		kickRound(t, w)
		if diff := cmp.Diff([]string{"club:ann"}, rtc.takeCalls()); diff != "" {
			t.Errorf("calls after the second disable (-want +got):\n%s", diff)
		}
	})
}

// TestGrants: a disabled or unknown user gets no grant; a room keeps its
// latest expiry; a user keeps the rooms of their 100 most recent tokens;
// expired grants go, on the user's next grant and in the worker's
// housekeeping.
func TestGrants(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		e := newRTCEnv(t, d.Open(t), newClock())
		e.users(t, []string{"cat", "dan", "eve"})
		e.disable(t, "eve")
		for _, id := range []string{"eve", "nobody"} {
			if ok, err := e.rooms.Grant(ctx, app, id, "r", e.clock.Now().Add(time.Hour)); err != nil || ok {
				t.Errorf("Grant(%s) = %v, %v; want false, nil", id, ok, err)
			}
		}
		e.grant(t, "cat", "r", 2*time.Hour)
		e.grant(t, "cat", "r", time.Hour) // the later expiry stays
		var exp int64
		if err := e.db.Reader.QueryRow(`SELECT expires_at FROM rtc_grants WHERE user_id = 'cat'`).Scan(&exp); err != nil {
			t.Fatal(err)
		}
		if got, want := time.UnixMicro(exp), e.clock.Now().Add(2*time.Hour); !got.Equal(want) {
			t.Errorf("grant expires at %v, want the later %v", got, want)
		}

		for i := range zimsync.MaxRoomsPerUser + 5 {
			e.grant(t, "dan", fmt.Sprintf("room%03d", i), time.Hour)
			e.clock.Advance(time.Microsecond) // the order of the grants
		}
		var rooms []string
		for _, r := range e.rows(t, "rtc_grants") {
			if room, ok := strings.CutPrefix(r, "dan@"); ok {
				rooms = append(rooms, room)
			}
		}
		if len(rooms) != zimsync.MaxRoomsPerUser || !slices.Contains(rooms, "room104") || slices.Contains(rooms, "room004") {
			t.Errorf("dan keeps %d rooms from %s to %s; want the %d most recent, room005 to room104",
				len(rooms), rooms[0], rooms[len(rooms)-1], zimsync.MaxRoomsPerUser)
		}

		// Two hours on, the grants have expired: cat's next grant prunes
		// hers, the worker's housekeeping dan's.
		e.clock.Advance(2 * time.Hour)
		e.grant(t, "cat", "new", time.Hour)
		if n := len(e.rows(t, "rtc_grants")); n != 1+zimsync.MaxRoomsPerUser {
			t.Errorf("%d grants after cat's new one, want %d", n, 1+zimsync.MaxRoomsPerUser)
		}
		e.clock.Advance(time.Minute)
		kickRound(t, e.kicker(t, e.db, "w1", newRTC(), nil))
		if diff := cmp.Diff([]string{"cat@new"}, e.rows(t, "rtc_grants")); diff != "" {
			t.Errorf("grants after housekeeping (-want +got):\n%s", diff)
		}
	})
}

// TestKickoutCrashedWorker cancels a worker in the middle of its calls,
// leaving its claims behind as a crash would: another worker takes the
// rows once their lease has expired, not before.
func TestKickoutCrashedWorker(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newRTCEnv(t, d.Open(t), newClock())
		e.users(t, []string{"fay", "gus"}, "r1", "r2")
		e.disable(t, "fay", "gus")
		hung := newRTC()
		hung.gate = make(chan struct{}) // never opened
		a := e.kicker(t, e.db, "a", hung, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int)
		go func() { n, _ := a.RunOnce(ctx); done <- n }()
		<-hung.started
		cancel()
		if n := <-done; n != 4 {
			t.Fatalf("the crashed worker claimed %d rows, want 4", n)
		}

		rtc := newRTC()
		b := e.kicker(t, e.db, "b", rtc, nil)
		e.clock.Advance(29 * time.Second)
		if n := kickRound(t, b); n != 0 {
			t.Errorf("worker b claimed %d rows under a's lease, want 0", n)
		}
		e.clock.Advance(time.Second) // the default lease of 30s is over
		if n := kickRound(t, b); n != 4 {
			t.Errorf("worker b claimed %d rows after a's lease expired, want 4", n)
		}
		if diff := cmp.Diff([]string{"r1:fay,gus", "r2:fay,gus"}, rtc.takeCalls()); diff != "" {
			t.Errorf("calls after the takeover (-want +got):\n%s", diff)
		}
		if got := e.rows(t, "rtc_kickouts"); len(got) != 0 {
			t.Errorf("outbox holds %v, want nothing", got)
		}
	})
}

// TestKickoutReplicas holds one replica's calls in flight while another
// runs rounds: the second takes only the rows the first did not claim,
// and no (room, user) is ever in two calls at once.
func TestKickoutReplicas(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		dsn := d.DSN(t)
		db1, db2 := sqldbtest.OpenPath(t, dsn), sqldbtest.OpenPath(t, dsn)
		e := newRTCEnv(t, db1, newClock())
		var ids []string
		for i := range 30 {
			ids = append(ids, fmt.Sprintf("u%02d", i))
		}
		e.users(t, ids, "a", "b", "c", "d", "e") // 150 kick-outs
		e.disable(t, ids...)
		rtc := newRTC()
		gate := make(chan struct{})
		rtc.gate = gate
		done := make(chan error)
		go func() { _, err := e.kicker(t, db1, "r1", rtc, nil).RunOnce(context.Background()); done <- err }()
		<-rtc.started
		r2 := e.kicker(t, db2, "r2", rtc, nil)
		rtc.mu.Lock()
		rtc.gate = nil // the second replica's calls go through
		rtc.mu.Unlock()
		if n := kickRound(t, r2); n != 50 {
			t.Errorf("the second replica claimed %d rows beside the first's 100, want 50", n)
		}
		if n := kickRound(t, r2); n != 0 {
			t.Errorf("the second replica's next round claimed %d rows, want 0", n)
		}
		close(gate) // the first replica's calls finish
		if err := <-done; err != nil {
			t.Fatalf("RunOnce = %v", err)
		}
		if rtc.maxFlight != 1 {
			t.Errorf("a kick-out was in %d calls at once, want 1", rtc.maxFlight)
		}
		seen := map[string]int{}
		for _, c := range rtc.takeCalls() {
			room, us, _ := strings.Cut(c, ":")
			for _, u := range strings.Split(us, ",") {
				seen[room+"/"+u]++
			}
		}
		if len(seen) != 150 {
			t.Errorf("%d kick-outs sent, want 150", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("%s sent %d times, want once", k, n)
			}
		}
		if got := e.rows(t, "rtc_kickouts"); len(got) != 0 {
			t.Errorf("outbox holds %d rows, want 0", len(got))
		}
	})
}

// kickoutRow is what the retry tests read of a row.
func (e *rtcEnv) kickoutRow(t *testing.T, room, user string) (attempts int, next time.Time, code int64, msg string) {
	t.Helper()
	var n int64
	err := e.db.Reader.QueryRow(`SELECT attempts, next_attempt_at, last_code, last_error FROM rtc_kickouts
		WHERE app_id = $1 AND room_id = $2 AND user_id = $3`, int64(app), room, user).Scan(&attempts, &n, &code, &msg)
	if err != nil {
		t.Fatalf("read kick-out %s@%s: %v", user, room, err)
	}
	return attempts, time.UnixMicro(n), code, msg
}

// TestKickoutFailures: a transient failure is retried with backoff, a
// permanent one is dropped, a rate limit pauses the app, and a kick-out
// still failing a day after its grant expired is given up on; each counted
// by code.
func TestKickoutFailures(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newRTCEnv(t, d.Open(t), newClock())
		reg := prometheus.NewRegistry()
		rtc := newRTC()
		var mu sync.Mutex
		answers := map[string]zimsync.Result{
			"flaky": {Outcome: zimsync.Transient, Code: 123, Message: "internal error"},
			"bad":   {Outcome: zimsync.Permanent, Code: 50011, Message: "too many users"},
		}
		down := false // every call fails without an answer
		rtc.fail = func(room string, ids []string) (zimsync.Result, error, bool) {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return zimsync.Result{}, fmt.Errorf("connection refused"), true
			}
			r, ok := answers[room]
			return r, nil, ok
		}
		w := e.kicker(t, e.db, "w1", rtc, reg)
		e.users(t, []string{"hal"}, "flaky", "bad", "ok")
		e.disable(t, "hal")
		kickRound(t, w)
		if diff := cmp.Diff([]string{"bad:hal", "flaky:hal", "ok:hal"}, rtc.takeCalls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"hal@flaky"}, e.rows(t, "rtc_kickouts")); diff != "" {
			t.Errorf("outbox after the first round (-want +got):\n%s", diff)
		}

		// flaky backs off: [0.5s, 1s), then [1s, 2s).
		for i, want := range []time.Duration{time.Second, 2 * time.Second} {
			attempts, next, code, msg := e.kickoutRow(t, "flaky", "hal")
			wait := next.Sub(e.clock.Now())
			if attempts != i+1 || code != 123 || msg != "internal error" || wait < want/2 || wait >= want {
				t.Fatalf("after failure %d: attempts %d, retry in %v, code %d, %q; want %d, [%v, %v), 123",
					i+1, attempts, wait, code, msg, i+1, want/2, want)
			}
			e.clock.Advance(wait - time.Microsecond)
			if n := kickRound(t, w); n != 0 {
				t.Fatalf("a round before the retry time claimed %d rows, want 0", n)
			}
			e.clock.Advance(time.Microsecond)
			if n := kickRound(t, w); n != 1 {
				t.Fatalf("a round at the retry time claimed %d rows, want 1", n)
			}
		}
		mu.Lock()
		delete(answers, "flaky")
		mu.Unlock()
		e.clock.Advance(time.Minute)
		kickRound(t, w)
		if got := e.rows(t, "rtc_kickouts"); len(got) != 0 {
			t.Errorf("outbox holds %v once RTC answers, want nothing", got)
		}

		// A rate limit pauses the app without counting the attempt.
		mu.Lock()
		answers["busy"] = zimsync.Result{Outcome: zimsync.RateLimited, Code: 100, Message: "too many calls"}
		mu.Unlock()
		e.users(t, []string{"ivy"}, "busy")
		e.users(t, []string{"jon"}, "quiet")
		e.disable(t, "ivy")
		kickRound(t, w)
		attempts, next, _, _ := e.kickoutRow(t, "busy", "ivy")
		if wait := next.Sub(e.clock.Now()); attempts != 0 || wait < 500*time.Millisecond || wait >= time.Second {
			t.Errorf("after a rate limit: attempts %d, retry in %v; want 0, [0.5s, 1s)", attempts, wait)
		}
		e.disable(t, "jon") // due now, but the app is paused
		if n := kickRound(t, w); n != 0 {
			t.Errorf("a round while the app is paused claimed %d rows, want 0", n)
		}
		mu.Lock()
		delete(answers, "busy")
		mu.Unlock()
		e.clock.Advance(time.Second)
		kickRound(t, w)
		rtc.takeCalls()
		if got := e.rows(t, "rtc_kickouts"); len(got) != 0 {
			t.Errorf("outbox holds %v after the pause, want nothing", got)
		}

		// RTC out of reach for good: retried until a day after the grant
		// expired, then given up on.
		mu.Lock()
		down = true
		mu.Unlock()
		e.users(t, []string{"kay"}, "far")
		e.disable(t, "kay")
		for end := e.clock.Now().Add(time.Hour + zimsync.KickoutGiveUp); e.clock.Now().Before(end); e.clock.Advance(10 * time.Minute) {
			kickRound(t, w)
		}
		if got := e.rows(t, "rtc_kickouts"); len(got) != 1 {
			t.Fatalf("outbox holds %v a day after the grant expired, want kay's row still", got)
		}
		e.clock.Advance(10 * time.Minute)
		kickRound(t, w)
		if got := e.rows(t, "rtc_kickouts"); len(got) != 0 {
			t.Errorf("outbox holds %v past the give-up time, want nothing", got)
		}

		for _, c := range []struct {
			name, label string
			want        float64
		}{
			{"authsvc_rtc_kickout_failures_total", "other", 3 + 1}, // flaky thrice, busy once
			{"authsvc_rtc_kickout_failures_total", "50011", 1},
			{"authsvc_rtc_kickouts_dropped_total", "permanent", 1},
			{"authsvc_rtc_kickouts_dropped_total", "expired", 1},
			{"authsvc_rtc_kickouts_total", "", 4}, // ok, flaky, ivy, jon
		} {
			if got := counter(t, reg, c.name, c.label); got != c.want {
				t.Errorf("%s{%s} = %v, want %v", c.name, c.label, got, c.want)
			}
		}
		if got := counter(t, reg, "authsvc_rtc_kickout_failures_total", "none"); got < 100 {
			t.Errorf("failures without a code = %v, want one per retry of kay's row", got)
		}
		e.clock.Advance(5 * time.Second)
		kickRound(t, w)
		if got := gauge(t, reg, "authsvc_rtc_kickout_outbox_depth"); got != 0 {
			t.Errorf("depth = %v, want 0", got)
		}
	})
}

// TestKickoutRevokedAgainInFlight: a user re-enabled, granted the same
// room and disabled again while the first kick-out is in flight is kicked
// out again; the first call's success does not delete the second.
func TestKickoutRevokedAgainInFlight(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newRTCEnv(t, d.Open(t), newClock())
		rtc := newRTC()
		gate := make(chan struct{})
		rtc.gate = gate
		w := e.kicker(t, e.db, "w1", rtc, nil)
		e.users(t, []string{"lou"}, "den")
		e.disable(t, "lou")
		done := make(chan error)
		go func() { _, err := w.RunOnce(context.Background()); done <- err }()
		<-rtc.started
		if _, err := e.store.SetDisabled(context.Background(), "lou", false); err != nil {
			t.Fatal(err)
		}
		e.grant(t, "lou", "den", time.Hour)
		e.disable(t, "lou")
		rtc.mu.Lock()
		rtc.gate = nil
		rtc.mu.Unlock()
		close(gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"lou@den"}, e.rows(t, "rtc_kickouts")); diff != "" {
			t.Errorf("outbox after the stale call (-want +got):\n%s", diff)
		}
		kickRound(t, w)
		if diff := cmp.Diff([]string{"den:lou", "den:lou"}, rtc.takeCalls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if got := e.rows(t, "rtc_kickouts"); len(got) != 0 {
			t.Errorf("outbox holds %v, want nothing", got)
		}
	})
}

// TestGrantRacingRevocation: a grant asked for while a disable is being
// committed is refused, so no token escapes the revocation.
func TestGrantRacingRevocation(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		e := newRTCEnv(t, d.Open(t), newClock())
		e.users(t, []string{"max"}, "a")
		// The disable as the store runs it, held open.
		tx, err := e.db.Writer.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`UPDATE users SET disabled = TRUE WHERE id = 'max'`); err != nil {
			t.Fatal(err)
		}
		if err := e.rooms.Revoke(ctx, tx, "max"); err != nil {
			t.Fatal(err)
		}
		type result struct {
			ok  bool
			err error
		}
		waitsBefore := e.db.Writer.Stats().WaitCount
		got := make(chan result)
		go func() {
			ok, err := e.rooms.Grant(ctx, app, "max", "b", e.clock.Now().Add(time.Hour))
			got <- result{ok, err}
		}()
		// Until the grant waits: on PostgreSQL for the user's row, on
		// SQLite for the one writer connection the disable holds.
		waiting := func() bool {
			if d.Name != sqldb.Postgres {
				return e.db.Writer.Stats().WaitCount > waitsBefore
			}
			var n int
			err := e.db.Reader.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO rtc_grants%'
				AND query LIKE '%FOR NO KEY UPDATE%'`).Scan(&n)
			return err == nil && n > 0
		}
		deadline := time.Now().Add(30 * time.Second) // a guard against a hang, not a measurement
		for !waiting() {
			if time.Now().After(deadline) {
				t.Fatal("the grant never waited for the disable")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if r := <-got; r.err != nil || r.ok {
			t.Errorf("Grant racing a disable = %v, %v; want false, nil", r.ok, r.err)
		}
		if diff := cmp.Diff([]string{"max@a"}, e.rows(t, "rtc_kickouts")); diff != "" {
			t.Errorf("kick-outs (-want +got):\n%s", diff)
		}
		if got := e.rows(t, "rtc_grants"); len(got) != 0 {
			t.Errorf("grants of a disabled user = %v, want none", got)
		}
	})
}
