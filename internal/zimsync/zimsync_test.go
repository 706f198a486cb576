package zimsync_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/testlog"
	"authsvc/internal/zimsync"
)

const app = uint32(4000000001) // past int32, as real AppIDs are

// fakeClock is a clock that moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	waiters []chan time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// After returns a channel that fires at the next Advance, whatever d: the
// tests that use it only need the wait to end when they say so.
func (c *fakeClock) After(time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, ch)
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	for _, ch := range c.waiters {
		ch <- c.t
	}
	c.waiters = nil
}

// fakeZIM is ZIM's user registry as the Sender sees it: register refuses a
// user it has, modify one it lacks, and an avatar over 500 bytes is refused
// for good, with ZEGO's codes. It records every profile it took, and how
// many sends of one user were ever in flight at once.
type fakeZIM struct {
	mu        sync.Mutex
	users     map[string]zimsync.Profile
	history   map[string][]zimsync.Profile
	calls     []string
	inflight  map[string]int
	maxFlight int
	// fail, when set, answers for a user instead of the registry.
	fail func(op string, p zimsync.Profile) (zimsync.Result, bool)
	// gate, when set, holds every call until it is closed or the call's
	// context ends; started gets a value (if there is room) as a call
	// begins.
	gate    chan struct{}
	started chan struct{}
}

func newZIM() *fakeZIM {
	return &fakeZIM{users: map[string]zimsync.Profile{}, history: map[string][]zimsync.Profile{},
		inflight: map[string]int{}, started: make(chan struct{}, 1)}
}

func (z *fakeZIM) Register(ctx context.Context, ps []zimsync.Profile) ([]zimsync.Result, error) {
	return z.do(ctx, "register", ps)
}

func (z *fakeZIM) Modify(ctx context.Context, ps []zimsync.Profile) ([]zimsync.Result, error) {
	return z.do(ctx, "modify", ps)
}

func (z *fakeZIM) do(ctx context.Context, op string, ps []zimsync.Profile) ([]zimsync.Result, error) {
	if len(ps) == 0 || len(ps) > 100 {
		return nil, fmt.Errorf("%s of %d users", op, len(ps))
	}
	z.mu.Lock()
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.UserID
		z.inflight[p.UserID]++
		z.maxFlight = max(z.maxFlight, z.inflight[p.UserID])
	}
	z.calls = append(z.calls, op+":"+strings.Join(ids, ","))
	gate := z.gate
	z.mu.Unlock()
	defer func() {
		z.mu.Lock()
		for _, p := range ps {
			z.inflight[p.UserID]--
		}
		z.mu.Unlock()
	}()
	select {
	case z.started <- struct{}{}:
	default:
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for range 3 { // room for another worker to overlap, if it could
		runtime.Gosched()
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	var rs []zimsync.Result
	for _, p := range ps {
		r := zimsync.Result{UserID: p.UserID, Outcome: zimsync.OK}
		_, has := z.users[p.UserID]
		if z.fail != nil {
			if f, ok := z.fail(op, p); ok {
				f.UserID = p.UserID
				rs = append(rs, f)
				continue
			}
		}
		switch {
		case len(p.Avatar) > 500:
			r = zimsync.Result{UserID: p.UserID, Outcome: zimsync.Permanent, Code: 660700007, Message: "avatar too long"}
		case op == "register" && has:
			r = zimsync.Result{UserID: p.UserID, Outcome: zimsync.Exists, Code: 660700002, Message: "user exists"}
		case op == "modify" && !has:
			r = zimsync.Result{UserID: p.UserID, Outcome: zimsync.NotRegistered, Code: 660700012, Message: "not registered"}
		default:
			if op == "register" {
				p.Extra = "" // ZIM takes none on register
			}
			z.users[p.UserID] = p
			z.history[p.UserID] = append(z.history[p.UserID], p)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func (z *fakeZIM) profile(id string) (zimsync.Profile, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	p, ok := z.users[id]
	return p, ok
}

func (z *fakeZIM) takeCalls() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	c := z.calls
	z.calls = nil
	return c
}

// env is a database with an outbox and a clock.
type env struct {
	db    *sqldb.DB
	ob    *zimsync.Outbox
	clock *fakeClock
}

func newEnv(t *testing.T, d sqldbtest.Dialect) *env {
	t.Helper()
	c := newClock()
	db := d.Open(t)
	return &env{db: db, ob: zimsync.NewOutbox(db, c.Now), clock: c}
}

// write runs f in a write transaction and enqueues ids in it, as the users
// store does for every change ZIM must hear of.
func (e *env) write(t *testing.T, ids []string, f func(tx *sql.Tx) error) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		t.Fatal(err)
	}
	if err := e.ob.Enqueue(ctx, tx, app, ids...); err != nil {
		t.Fatalf("Enqueue = %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) create(t *testing.T, ps ...zimsync.Profile) {
	t.Helper()
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.UserID)
	}
	e.write(t, ids, func(tx *sql.Tx) error {
		for _, p := range ps {
			_, err := tx.Exec(`INSERT INTO users (id, name, avatar_url, extended_data, session_epoch, created_at, updated_at)
				VALUES ($1, $2, $3, $4, 1, 0, 0)`, p.UserID, p.Name, p.Avatar, p.Extra)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *env) update(t *testing.T, p zimsync.Profile) {
	t.Helper()
	e.write(t, []string{p.UserID}, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE users SET name = $2, avatar_url = $3, extended_data = $4 WHERE id = $1`,
			p.UserID, p.Name, p.Avatar, p.Extra)
		return err
	})
}

func (e *env) worker(t *testing.T, db *sqldb.DB, id string, s zimsync.Sender, reg prometheus.Registerer) *zimsync.Worker {
	t.Helper()
	w, err := zimsync.NewWorker(zimsync.Config{DB: db, Clock: e.clock, Logger: slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)), Registerer: reg, ID: id,
		Senders: func() map[uint32]zimsync.Sender { return map[uint32]zimsync.Sender{app: s} }})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// gauge returns the value of the gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// failures returns authsvc_zim_sync_failures_total by code.
func failures(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "authsvc_zim_sync_failures_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

func runOnce(t *testing.T, w *zimsync.Worker) int {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	return n
}

func (e *env) state(t *testing.T, id string) zimsync.State {
	t.Helper()
	st, err := e.ob.State(context.Background(), app, id)
	if err != nil {
		t.Fatalf("State(%q) = %v", id, err)
	}
	return st
}

func (e *env) outboxLen(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.Reader.QueryRow(`SELECT COUNT(*) FROM zim_outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRegisterThenModify(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		w := e.worker(t, e.db, "w1", z, nil)
		a := zimsync.Profile{UserID: "alice", Name: "Alice", Avatar: "https://a.example/a.png"}
		b := zimsync.Profile{UserID: "bob", Name: "Bob", Extra: `{"level":3}`}
		e.create(t, a, b)
		if st := e.state(t, "alice"); st.Status != zimsync.Pending {
			t.Errorf("State before sending = %+v, want pending", st)
		}
		if n := runOnce(t, w); n != 2 {
			t.Fatalf("RunOnce claimed %d rows, want 2", n)
		}
		// bob has extended data, which only a modify carries.
		if diff := cmp.Diff([]string{"register:alice,bob", "modify:bob"}, z.takeCalls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		for _, p := range []zimsync.Profile{a, b} {
			if got, _ := z.profile(p.UserID); got != p {
				t.Errorf("ZIM has %+v, want %+v", got, p)
			}
			if st := e.state(t, p.UserID); st.Status != zimsync.Synced || !st.SyncedAt.Equal(e.clock.Now()) {
				t.Errorf("State(%s) = %+v, want synced at %v", p.UserID, st, e.clock.Now())
			}
		}
		if n := e.outboxLen(t); n != 0 {
			t.Errorf("outbox holds %d rows after a full sync, want 0", n)
		}

		a.Name = "Alice B."
		e.update(t, a)
		e.clock.Advance(time.Second)
		runOnce(t, w)
		if diff := cmp.Diff([]string{"modify:alice"}, z.takeCalls()); diff != "" {
			t.Errorf("calls for a known user (-want +got):\n%s", diff)
		}
		if got, _ := z.profile("alice"); got != a {
			t.Errorf("ZIM has %+v, want %+v", got, a)
		}
	})
}

func TestExistsAndNotRegistered(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		w := e.worker(t, e.db, "w1", z, nil)
		// ZIM already has carol (registered by someone else): register
		// answers "exists", which becomes a modify.
		z.users["carol"] = zimsync.Profile{UserID: "carol", Name: "old"}
		carol := zimsync.Profile{UserID: "carol", Name: "Carol"}
		e.create(t, carol)
		runOnce(t, w)
		if diff := cmp.Diff([]string{"register:carol", "modify:carol"}, z.takeCalls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if got, _ := z.profile("carol"); got != carol {
			t.Errorf("ZIM has %+v, want %+v", got, carol)
		}
		// ZIM lost carol: the modify answers "not registered", and the next
		// round registers her at once.
		delete(z.users, "carol")
		carol.Name = "Carol C."
		e.update(t, carol)
		runOnce(t, w)
		runOnce(t, w)
		if diff := cmp.Diff([]string{"modify:carol", "register:carol"}, z.takeCalls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if got, _ := z.profile("carol"); got != carol {
			t.Errorf("ZIM has %+v, want %+v", got, carol)
		}
		if st := e.state(t, "carol"); st.Status != zimsync.Synced {
			t.Errorf("State = %+v, want synced", st)
		}
	})
}

// TestLatestStateWins changes a user five times while a send of the first
// state is in flight: ZIM ends with the last state, and nothing older
// arrives after it.
func TestLatestStateWins(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		z.gate = make(chan struct{})
		w := e.worker(t, e.db, "w1", z, nil)
		p := zimsync.Profile{UserID: "dave", Name: "v0"}
		e.create(t, p)
		done := make(chan error)
		go func() { _, err := w.RunOnce(context.Background()); done <- err }()
		<-z.started // the register of v0 is in flight
		for i := 1; i <= 5; i++ {
			p.Name = fmt.Sprintf("v%d", i)
			e.update(t, p)
		}
		close(z.gate)
		if err := <-done; err != nil {
			t.Fatalf("RunOnce = %v", err)
		}
		if st := e.state(t, "dave"); st.Status != zimsync.Pending {
			t.Errorf("State after the stale send = %+v, want pending", st)
		}
		runOnce(t, w)
		if got, _ := z.profile("dave"); got != p {
			t.Errorf("ZIM has %+v, want the last state %+v", got, p)
		}
		var names []string
		for _, h := range z.history["dave"] {
			names = append(names, h.Name)
		}
		if diff := cmp.Diff([]string{"v0", "v5"}, names); diff != "" {
			t.Errorf("states ZIM received, in order (-want +got):\n%s", diff)
		}
		if n := e.outboxLen(t); n != 0 {
			t.Errorf("outbox holds %d rows, want 0", n)
		}
		if n := runOnce(t, w); n != 0 {
			t.Errorf("a round after the sync claimed %d rows, want 0", n)
		}
	})
}

// TestTwoReplicas runs two workers, each on its own pool of the same
// database, over 300 users changed as they go: no user is ever in two
// sends at once, and ZIM ends with every user's last state.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		dsn := d.DSN(t)
		db1, db2 := sqldbtest.OpenPath(t, dsn), sqldbtest.OpenPath(t, dsn)
		c := newClock()
		e := &env{db: db1, ob: zimsync.NewOutbox(db1, c.Now), clock: c}
		z := newZIM()
		var ps []zimsync.Profile
		for i := range 300 {
			ps = append(ps, zimsync.Profile{UserID: fmt.Sprintf("u%03d", i), Name: "first"})
		}
		e.create(t, ps...)
		workers := []*zimsync.Worker{e.worker(t, db1, "r1", z, nil), e.worker(t, db2, "r2", z, nil)}
		// A worker that finds rows it cannot claim (the other holds them)
		// waits for the other's next round, rather than spinning: on
		// SQLite its rounds took the write lock the other was waiting for,
		// and could use up the rounds before the other got it. Only a round
		// while the other waits too counts against the bound, which
		// catches rows that nobody claims.
		var (
			mu      sync.Mutex
			moved   = sync.NewCond(&mu)
			rounds  int // rounds ended by either worker
			waiting int // workers waiting for a round of the other
			stopped int // workers done
		)
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, w := range workers {
			wg.Go(func() {
				defer func() {
					mu.Lock()
					stopped++
					moved.Broadcast()
					mu.Unlock()
				}()
				for idle := 0; idle < 1000; { // far more rounds than the work needs
					n, err := w.RunOnce(context.Background())
					if err != nil {
						errs <- err
						return
					}
					var left int
					if err := db1.Reader.QueryRow(`SELECT COUNT(*) FROM zim_outbox`).Scan(&left); err != nil {
						errs <- err
						return
					}
					if n == 0 && left == 0 {
						return
					}
					mu.Lock()
					rounds++
					moved.Broadcast()
					if n == 0 {
						if waiting > 0 || stopped > 0 {
							idle++
						} else {
							waiting++
							for seen := rounds; rounds == seen && stopped == 0; {
								moved.Wait()
							}
							waiting--
						}
					}
					mu.Unlock()
				}
				errs <- fmt.Errorf("outbox not empty after 1000 rounds in which neither worker could claim a row")
			})
		}
		for i := 0; i < len(ps); i += 7 { // changes while the workers run
			ps[i].Name = "second"
			e.update(t, ps[i])
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// The changes made after both workers stopped looking are sent now.
		for runOnce(t, workers[0]) > 0 {
		}
		if z.maxFlight != 1 {
			t.Errorf("a user was in %d sends at once, want 1", z.maxFlight)
		}
		for _, p := range ps {
			if got, _ := z.profile(p.UserID); got != p {
				t.Errorf("ZIM has %+v, want %+v", got, p)
			}
		}
	})
}

// TestClaimsAreExclusive holds one replica's sends in flight while another
// runs a round: the second takes the rows the first did not claim, none of
// the first's.
func TestClaimsAreExclusive(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		dsn := d.DSN(t)
		db1, db2 := sqldbtest.OpenPath(t, dsn), sqldbtest.OpenPath(t, dsn)
		c := newClock()
		e := &env{db: db1, ob: zimsync.NewOutbox(db1, c.Now), clock: c}
		var ps []zimsync.Profile
		for i := range 150 {
			ps = append(ps, zimsync.Profile{UserID: fmt.Sprintf("u%03d", i), Name: "n"})
		}
		e.create(t, ps...)
		z1, z2 := newZIM(), newZIM()
		z1.gate = make(chan struct{})
		done := make(chan error)
		go func() { _, err := e.worker(t, db1, "r1", z1, nil).RunOnce(context.Background()); done <- err }()
		<-z1.started
		if n := runOnce(t, e.worker(t, db2, "r2", z2, nil)); n != 50 {
			t.Errorf("the second replica claimed %d rows beside the first's 100, want 50", n)
		}
		close(z1.gate)
		if err := <-done; err != nil {
			t.Fatalf("RunOnce = %v", err)
		}
		for _, p := range ps {
			_, in1 := z1.profile(p.UserID)
			_, in2 := z2.profile(p.UserID)
			if in1 == in2 {
				t.Errorf("user %s sent by replica 1: %v, by replica 2: %v; want exactly one", p.UserID, in1, in2)
			}
		}
		if n := e.outboxLen(t); n != 0 {
			t.Errorf("outbox holds %d rows, want 0", n)
		}
	})
}

// TestCrashedWorker cancels a worker in the middle of its sends, leaving
// its claims behind as a crash would: another worker takes the rows once
// their lease has expired, not before.
func TestCrashedWorker(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		hung := newZIM()
		hung.gate = make(chan struct{}) // never opened
		a := e.worker(t, e.db, "a", hung, nil)
		e.create(t, zimsync.Profile{UserID: "erin", Name: "Erin"}, zimsync.Profile{UserID: "frank", Name: "Frank"})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int)
		go func() { n, _ := a.RunOnce(ctx); done <- n }()
		<-hung.started
		cancel()
		if n := <-done; n != 2 {
			t.Fatalf("the crashed worker claimed %d rows, want 2", n)
		}

		z := newZIM()
		b := e.worker(t, e.db, "b", z, nil)
		e.clock.Advance(29 * time.Second)
		if n := runOnce(t, b); n != 0 {
			t.Errorf("worker b claimed %d rows under a's lease, want 0", n)
		}
		e.clock.Advance(time.Second) // the default lease of 30s is over
		if n := runOnce(t, b); n != 2 {
			t.Errorf("worker b claimed %d rows after a's lease expired, want 2", n)
		}
		for _, id := range []string{"erin", "frank"} {
			if _, ok := z.profile(id); !ok {
				t.Errorf("ZIM lacks %s after the takeover", id)
			}
			if st := e.state(t, id); st.Status != zimsync.Synced {
				t.Errorf("State(%s) = %+v, want synced", id, st)
			}
		}
	})
}

// outboxRow is what the backoff tests read of a row.
func (e *env) outboxRow(t *testing.T, id string) (attempts int, next time.Time, parked bool, code int64, msg string) {
	t.Helper()
	var n int64
	err := e.db.Reader.QueryRow(`SELECT attempts, next_attempt_at, parked, last_code, last_error FROM zim_outbox
		WHERE user_id = $1 AND app_id = $2`, id, int64(app)).Scan(&attempts, &n, &parked, &code, &msg)
	if err != nil {
		t.Fatalf("read outbox row of %s: %v", id, err)
	}
	return attempts, time.UnixMicro(n), parked, code, msg
}

func TestBackoffParkAndUnpark(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		reg := prometheus.NewRegistry()
		w := e.worker(t, e.db, "w1", z, reg)
		down := true
		z.fail = func(op string, p zimsync.Profile) (zimsync.Result, bool) {
			if down && p.UserID == "gina" {
				return zimsync.Result{Outcome: zimsync.Transient, Code: 123, Message: "internal error"}, true
			}
			return zimsync.Result{}, false
		}
		long := "https://a.example/" + strings.Repeat("x", 500)
		e.create(t, zimsync.Profile{UserID: "gina", Name: "Gina"}, zimsync.Profile{UserID: "hal", Name: "Hal", Avatar: long})
		runOnce(t, w)

		// gina's transient failures back off: [0.5s, 1s), then [1s, 2s).
		for i, want := range []time.Duration{time.Second, 2 * time.Second} {
			attempts, next, parked, code, _ := e.outboxRow(t, "gina")
			wait := next.Sub(e.clock.Now())
			if attempts != i+1 || parked || code != 123 || wait < want/2 || wait >= want {
				t.Fatalf("after failure %d: attempts %d, retry in %v, parked %v, code %d; want %d, [%v, %v), false, 123",
					i+1, attempts, wait, parked, code, i+1, want/2, want)
			}
			e.clock.Advance(wait - time.Microsecond)
			if n := runOnce(t, w); n != 0 {
				t.Fatalf("a round before the retry time claimed %d rows, want 0", n)
			}
			e.clock.Advance(time.Microsecond)
			if n := runOnce(t, w); n != 1 {
				t.Fatalf("a round at the retry time claimed %d rows, want 1", n)
			}
		}
		if st := e.state(t, "gina"); st.Status != zimsync.Pending {
			t.Errorf("State(gina) while retrying = %+v, want pending", st)
		}

		// hal's avatar is refused for good: parked, visible, never retried.
		_, _, parked, code, msg := e.outboxRow(t, "hal")
		if !parked || code != 660700007 || msg != "avatar too long" {
			t.Errorf("hal's row: parked %v, code %d, error %q; want true, 660700007, avatar too long", parked, code, msg)
		}
		if st := e.state(t, "hal"); st.Status != zimsync.Failed || st.Code != 660700007 {
			t.Errorf("State(hal) = %+v, want failed with 660700007", st)
		}
		e.clock.Advance(time.Hour)
		down = false
		runOnce(t, w) // gina goes through; hal stays parked
		if _, ok := z.profile("hal"); ok {
			t.Errorf("ZIM got hal's parked profile")
		}
		if _, ok := z.profile("gina"); !ok {
			t.Errorf("ZIM lacks gina once it answers again")
		}
		if got := gauge(t, reg, "authsvc_zim_outbox_parked"); got != 1 {
			t.Errorf("parked gauge = %v, want 1", got)
		}
		wantFailures := map[string]float64{"660700007": 1, "other": 3}
		if diff := cmp.Diff(wantFailures, failures(t, reg)); diff != "" {
			t.Errorf("failures by code (-want +got):\n%s", diff)
		}

		// The admin fixes hal's avatar: the change un-parks the row.
		hal := zimsync.Profile{UserID: "hal", Name: "Hal", Avatar: "https://a.example/hal.png"}
		e.update(t, hal)
		if st := e.state(t, "hal"); st.Status != zimsync.Pending {
			t.Errorf("State(hal) after the fix = %+v, want pending", st)
		}
		runOnce(t, w)
		if got, _ := z.profile("hal"); got != hal {
			t.Errorf("ZIM has %+v, want %+v", got, hal)
		}
		e.clock.Advance(5 * time.Second)
		runOnce(t, w)
		for _, name := range []string{"authsvc_zim_outbox_parked", "authsvc_zim_outbox_depth", "authsvc_zim_outbox_oldest_age_seconds"} {
			if got := gauge(t, reg, name); got != 0 {
				t.Errorf("%s = %v once all is synced, want 0", name, got)
			}
		}
	})
}

// TestRateLimited pauses the app after ZEGO says it is over its rate,
// without counting the attempt against the users.
func TestRateLimited(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		limited := true
		z.fail = func(string, zimsync.Profile) (zimsync.Result, bool) {
			return zimsync.Result{Outcome: zimsync.RateLimited, Code: 660700001, Message: "over 20 requests/s"}, limited
		}
		reg := prometheus.NewRegistry()
		w := e.worker(t, e.db, "w1", z, reg)
		e.create(t, zimsync.Profile{UserID: "ivan", Name: "Ivan"}, zimsync.Profile{UserID: "jo", Name: "Jo"})
		runOnce(t, w)
		attempts, next, parked, code, _ := e.outboxRow(t, "ivan")
		wait := next.Sub(e.clock.Now())
		if attempts != 0 || parked || code != 660700001 || wait < 500*time.Millisecond || wait >= time.Second {
			t.Fatalf("after a rate limit: attempts %d, retry in %v, parked %v, code %d; want 0, [0.5s, 1s), false, 660700001",
				attempts, wait, parked, code)
		}
		limited = false
		e.create(t, zimsync.Profile{UserID: "kim", Name: "Kim"}) // due now, but the app is paused
		if n := runOnce(t, w); n != 0 {
			t.Errorf("a round while the app is paused claimed %d rows, want 0", n)
		}
		e.clock.Advance(5 * time.Second)
		runOnce(t, w)
		for _, id := range []string{"ivan", "jo", "kim"} {
			if _, ok := z.profile(id); !ok {
				t.Errorf("ZIM lacks %s after the pause", id)
			}
		}
		if diff := cmp.Diff(map[string]float64{"660700001": 2}, failures(t, reg)); diff != "" {
			t.Errorf("failures by code (-want +got):\n%s", diff)
		}
	})
}

// TestOldestAge: the gauges count what waits, and how long the oldest
// change has, for the apps with sync on only.
func TestOldestAge(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		reg := prometheus.NewRegistry()
		z := newZIM()
		z.fail = func(string, zimsync.Profile) (zimsync.Result, bool) { // ZEGO refuses everything for its rate
			return zimsync.Result{Outcome: zimsync.RateLimited, Code: 660700001}, true
		}
		syncing := true
		w, err := zimsync.NewWorker(zimsync.Config{DB: e.db, Clock: e.clock, Registerer: reg,
			Logger: slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)),
			Senders: func() map[uint32]zimsync.Sender {
				if !syncing {
					return nil
				}
				return map[uint32]zimsync.Sender{app: z}
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			// With sync turned off, the app's rows wait, uncounted.
			syncing = false
			e.clock.Advance(time.Minute)
			runOnce(t, w)
			if got := gauge(t, reg, "authsvc_zim_outbox_depth"); got != 0 {
				t.Errorf("depth with sync off = %v, want 0", got)
			}
			if got := gauge(t, reg, "authsvc_zim_outbox_oldest_age_seconds"); got != 0 {
				t.Errorf("oldest age with sync off = %vs, want 0", got)
			}
		}()
		e.create(t, zimsync.Profile{UserID: "lee", Name: "Lee"})
		e.clock.Advance(time.Minute)
		e.create(t, zimsync.Profile{UserID: "max", Name: "Max"})
		e.update(t, zimsync.Profile{UserID: "lee", Name: "Lee 2"}) // keeps the first change's age
		e.clock.Advance(time.Minute)
		runOnce(t, w)
		if got := gauge(t, reg, "authsvc_zim_outbox_depth"); got != 2 {
			t.Errorf("depth = %v, want 2", got)
		}
		if got := gauge(t, reg, "authsvc_zim_outbox_oldest_age_seconds"); got != 120 {
			t.Errorf("oldest age = %vs, want 120s", got)
		}
	})
}

// TestEnqueue: an import of 1,000 users in one transaction, a user named
// twice in one call, and versions that count the changes.
func TestEnqueue(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		var ps []zimsync.Profile
		for i := range 1000 {
			ps = append(ps, zimsync.Profile{UserID: fmt.Sprintf("imp%04d", i), Name: "n"})
		}
		e.create(t, ps...)
		if n := e.outboxLen(t); n != 1000 {
			t.Errorf("outbox holds %d rows after an import of 1000, want 1000", n)
		}
		e.write(t, []string{"imp0001", "imp0001", "imp0002"}, func(*sql.Tx) error { return nil })
		e.write(t, []string{"imp0001"}, func(*sql.Tx) error { return nil })
		var v1, v2, v3 int64
		q := `SELECT version FROM zim_outbox WHERE user_id = $1 AND app_id = $2`
		for id, v := range map[string]*int64{"imp0001": &v1, "imp0002": &v2, "imp0003": &v3} {
			if err := e.db.Reader.QueryRow(q, id, int64(app)).Scan(v); err != nil {
				t.Fatal(err)
			}
		}
		if v1 != 3 || v2 != 2 || v3 != 1 {
			t.Errorf("versions = %d, %d, %d; want 3, 2, 1", v1, v2, v3)
		}
		// A rolled-back change leaves no row behind.
		tx, err := e.db.Writer.BeginTx(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO users (id, name, session_epoch, created_at, updated_at) VALUES ('gone', 'g', 1, 0, 0)`); err != nil {
			t.Fatal(err)
		}
		if err := e.ob.Enqueue(context.Background(), tx, app, "gone"); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		if n := e.outboxLen(t); n != 1000 {
			t.Errorf("outbox holds %d rows after a rollback, want 1000", n)
		}
	})
}

// TestDeletedUser: a deleted user's rows go with it, even while a send of
// the user is in flight.
func TestDeletedUser(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		z.gate = make(chan struct{})
		w := e.worker(t, e.db, "w1", z, nil)
		e.create(t, zimsync.Profile{UserID: "ned", Name: "Ned"})
		done := make(chan error)
		go func() { _, err := w.RunOnce(context.Background()); done <- err }()
		<-z.started
		if _, err := e.db.Writer.Exec(`DELETE FROM users WHERE id = 'ned'`); err != nil {
			t.Fatal(err)
		}
		close(z.gate)
		if err := <-done; err != nil {
			t.Fatalf("RunOnce after the user was deleted = %v", err)
		}
		var n int
		if err := e.db.Reader.QueryRow(`SELECT (SELECT COUNT(*) FROM zim_outbox) + (SELECT COUNT(*) FROM zim_synced)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d rows left of a deleted user, want 0", n)
		}
		if _, err := e.ob.State(context.Background(), app, "ned"); !errors.Is(err, zimsync.ErrNotFound) {
			t.Errorf("State of a deleted user = %v, want ErrNotFound", err)
		}
	})
}

// TestParkedOnlyIfUnchanged: a profile refused for good while the user was
// changed again is not parked; the new state is sent at once.
func TestParkedOnlyIfUnchanged(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		z.gate = make(chan struct{})
		w := e.worker(t, e.db, "w1", z, nil)
		e.create(t, zimsync.Profile{UserID: "olga", Name: "Olga", Avatar: "https://a.example/" + strings.Repeat("y", 500)})
		done := make(chan error)
		go func() { _, err := w.RunOnce(context.Background()); done <- err }()
		<-z.started
		fixed := zimsync.Profile{UserID: "olga", Name: "Olga", Avatar: "https://a.example/o.png"}
		e.update(t, fixed)
		close(z.gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st := e.state(t, "olga"); st.Status != zimsync.Pending {
			t.Errorf("State = %+v, want pending", st)
		}
		z.gate = nil
		runOnce(t, w)
		if got, _ := z.profile("olga"); got != fixed {
			t.Errorf("ZIM has %+v, want %+v", got, fixed)
		}
	})
}

// TestRun: Run sends what is enqueued, waits on the clock when idle, and
// returns when its context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		w := e.worker(t, e.db, "w1", z, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- w.Run(ctx) }()
		e.create(t, zimsync.Profile{UserID: "pat", Name: "Pat"})
		for { // each Advance ends one idle wait; the bound is the test's timeout
			if _, ok := z.profile("pat"); ok {
				break
			}
			e.clock.Advance(time.Second)
			runtime.Gosched()
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
}

// TestCodedFailuresParkInTheEnd: a user ZEGO keeps refusing with a code we
// cannot classify is parked after maxUnknownAnswers in a row, with the
// code, while a user whose sends fail without a code (ZEGO unreachable)
// never is, nor one whose unknown answers are broken by other failures.
func TestCodedFailuresParkInTheEnd(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		e := newEnv(t, d)
		z := newZIM()
		w := e.worker(t, e.db, "w1", z, nil)
		mixed := 0
		z.fail = func(op string, p zimsync.Profile) (zimsync.Result, bool) {
			switch p.UserID {
			case "coded":
				return zimsync.Result{Outcome: zimsync.Unclassified, Code: 661234567, Message: "something new"}, true
			case "mixed": // unknown answers, but never 20 in a row
				mixed++
				if mixed%10 == 0 {
					return zimsync.Result{Outcome: zimsync.Transient, Message: "timeout"}, true
				}
				return zimsync.Result{Outcome: zimsync.Unclassified, Code: 661234567, Message: "something new"}, true
			case "uncoded":
				return zimsync.Result{Outcome: zimsync.Transient, Message: "timeout"}, true
			}
			return zimsync.Result{}, false
		}
		e.create(t, zimsync.Profile{UserID: "coded", Name: "C"}, zimsync.Profile{UserID: "uncoded", Name: "U"},
			zimsync.Profile{UserID: "mixed", Name: "M"})
		for range 25 {
			runOnce(t, w)
			e.clock.Advance(11 * time.Minute) // past the longest backoff
		}
		if _, _, parked, code, _ := e.outboxRow(t, "coded"); !parked || code != 661234567 {
			t.Errorf("coded: parked %v, code %d; want parked with 661234567", parked, code)
		}
		if st := e.state(t, "coded"); st.Status != zimsync.Failed {
			t.Errorf("State(coded) = %+v, want failed", st)
		}
		for _, id := range []string{"uncoded", "mixed"} {
			if attempts, _, parked, _, _ := e.outboxRow(t, id); parked || attempts < 25 {
				t.Errorf("%s: parked %v after %d attempts; want retried, never parked", id, parked, attempts)
			}
		}
	})
}
