package zimsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authsvc/internal/sqldb"
)

// Clock is the Worker's time: the rows' schedules and leases, and its wait
// between rounds.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the machine's clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config is what a Worker needs. DB, Senders, Clock and Logger are required.
type Config struct {
	DB *sqldb.DB
	// Senders returns the client of every app with sync turned on. It is
	// called every round, so a reload of the apps takes effect at the next.
	// Rows of other apps wait.
	Senders func() map[uint32]Sender
	Clock   Clock
	Logger  *slog.Logger
	// Registerer gets the Worker's metrics; nil registers none.
	Registerer prometheus.Registerer

	// ID names this worker in the leases it takes; a random one when
	// empty. Two workers must never share one.
	ID string
	// Lease is how long a claimed row stays this worker's, 30s when 0. The
	// sends of a round are given half of it; a worker that crashed or hung
	// loses its rows to another when it ends.
	Lease time.Duration
	// Poll is the wait between rounds that found nothing to do, 1s when 0.
	Poll time.Duration
	// Batch is how many rows of an app a round claims, at most and by
	// default 100 (ZEGO's batch limit).
	Batch int
	// Sent, when set, is told of every user a round sent, once its outcome
	// is committed: synced, or refused with ZEGO's code (rate-limited
	// sends, retried soon, are not told). For the audit trail.
	Sent func(appID uint32, userID string, synced bool, code int64)
}

// Worker sends the outbox's users to ZIM, one round after another, until
// its context ends. Several Workers, in one process or in several replicas,
// may share one database: a row is claimed by one at a time.
type Worker struct {
	db      *sqldb.DB
	senders func() map[uint32]Sender
	sent    func(appID uint32, userID string, synced bool, code int64) // nil: none
	clock   Clock
	log     *slog.Logger
	id      string
	lease   time.Duration
	poll    time.Duration
	batch   int
	m       *metrics
	paused  pauses
	stats   every
}

// NewWorker returns a Worker, or an error naming what c lacks.
func NewWorker(c Config) (*Worker, error) {
	switch {
	case c.DB == nil:
		return nil, errors.New("zim sync worker: no database")
	case c.Senders == nil:
		return nil, errors.New("zim sync worker: no senders")
	case c.Clock == nil:
		return nil, errors.New("zim sync worker: no clock")
	case c.Logger == nil:
		return nil, errors.New("zim sync worker: no logger")
	case c.Lease < 0 || c.Poll < 0 || c.Batch < 0 || c.Batch > 100:
		return nil, errors.New("zim sync worker: Lease and Poll must not be negative, Batch must be 0 to 100")
	}
	w := &Worker{db: c.DB, senders: c.Senders, sent: c.Sent, clock: c.Clock, log: c.Logger, id: workerID(c.ID),
		lease: orDefault(c.Lease, defaultLease), poll: orDefault(c.Poll, defaultPoll), batch: orDefault(c.Batch, 100),
		stats: every{d: statsEvery}}
	m, err := newMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("zim sync worker: %w", err)
	}
	w.m = m
	return w, nil
}

// Run runs rounds until ctx ends, at once after a round that had work and
// after Poll otherwise. A failing round (the database down) is logged and
// tried again after Poll. It returns nil when ctx ends. A send in flight
// then is abandoned, not cleaned up: its rows come back to a worker when
// their lease expires.
func (w *Worker) Run(ctx context.Context) error {
	return runRounds(ctx, w.clock, w.poll, w.log, "zim sync round failed", w.RunOnce)
}

// RunOnce runs one round: for every app with a sender and not paused by a
// rate limit, it claims up to Batch due rows, sends their users' current
// profiles, and records the outcomes. It returns how many rows it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	var total int
	var errs []error
	senders := w.senders()
	for appID, s := range senders {
		n, err := w.runApp(ctx, appID, s)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("app %d: %w", appID, err))
		}
	}
	if err := w.refreshStats(ctx, slices.Collect(maps.Keys(senders))); err != nil {
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// claimed is one row a worker holds.
type claimed struct {
	version  int64
	attempts int
	unknown  int // Unknown answers in a row
}

// user is a claimed row's user, as the database has it now.
type user struct {
	Profile
	registered bool
}

func (w *Worker) runApp(ctx context.Context, appID uint32, s Sender) (int, error) {
	now := w.clock.Now()
	if now.Before(w.paused.until(appID)) {
		return 0, nil
	}
	// The sends end half a lease after the claim, however long the rest
	// of the round took, so that no send is still in flight when the
	// lease runs out and another replica may take the rows.
	sendBy := time.Now().Add(w.lease / 2)
	rows, err := w.claim(ctx, appID, now)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	users, err := w.load(ctx, appID, rows)
	if err != nil {
		return len(rows), err // the lease returns the rows
	}
	sendCtx, cancel := context.WithDeadline(ctx, sendBy)
	outs := w.send(sendCtx, s, users)
	cancel()
	if ctx.Err() != nil {
		return len(rows), ctx.Err() // shutting down: the lease returns the rows
	}
	return len(rows), w.finish(ctx, appID, rows, outs)
}

// claim takes up to w.batch due rows of appID whose lease is free or
// expired. On PostgreSQL, rows another replica is claiming at the same
// moment are skipped, not waited for; the statement is its own short
// transaction, and the sends happen after it committed.
func (w *Worker) claim(ctx context.Context, appID uint32, now time.Time) (map[string]claimed, error) {
	t := now.UnixMicro()
	rs, err := w.db.Writer.QueryContext(ctx, `UPDATE zim_outbox SET claimed_by = $1, claimed_until = $2
		WHERE (user_id, app_id) IN (SELECT user_id, app_id FROM zim_outbox
			WHERE app_id = $3 AND parked = FALSE AND next_attempt_at <= $4 AND claimed_until <= $4
			ORDER BY next_attempt_at, user_id LIMIT $5`+w.db.SkipLocked()+`)
		RETURNING user_id, version, attempts, unknown_answers`,
		w.id, now.Add(w.lease).UnixMicro(), int64(appID), t, w.batch)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	defer rs.Close()
	rows := map[string]claimed{}
	for rs.Next() {
		var id string
		var c claimed
		if err := rs.Scan(&id, &c.version, &c.attempts, &c.unknown); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		rows[id] = c
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return rows, nil
}

// load reads the current profile of the claimed rows' users. A user
// missing from the result was deleted.
func (w *Worker) load(ctx context.Context, appID uint32, rows map[string]claimed) ([]user, error) {
	args := sqldb.Args{int64(appID)}
	ids := make([]any, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	rs, err := w.db.Reader.QueryContext(ctx, `SELECT u.id, u.name, u.avatar_url, u.extended_data, COALESCE(s.registered, FALSE)
		FROM users u LEFT JOIN zim_synced s ON s.user_id = u.id AND s.app_id = $1
		WHERE u.id IN (`+args.List(ids...)+`) ORDER BY u.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	defer rs.Close()
	var us []user
	for rs.Next() {
		var u user
		if err := rs.Scan(&u.UserID, &u.Name, &u.Avatar, &u.Extra, &u.registered); err != nil {
			return nil, fmt.Errorf("load users: %w", err)
		}
		us = append(us, u)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	return us, nil
}

// verdict is what a round learned of one user.
type verdict struct {
	done       bool // ZIM has the profile read in this round
	again      bool // send again at once (modify found the user unregistered)
	registered *bool
	fail       Result // when neither done nor again: the failure
}

// send registers the users ZIM does not know to have and modifies the
// others, turning "exists" into a modify (register carries no Extra, so a
// user with extended data is modified after registering too) and "not
// registered" into a register in the next round.
func (w *Worker) send(ctx context.Context, s Sender, users []user) map[string]*verdict {
	outs := make(map[string]*verdict, len(users))
	yes, no := true, false
	var reg, mod []Profile
	byID := map[string]user{}
	for _, u := range users {
		outs[u.UserID] = &verdict{}
		byID[u.UserID] = u
		if u.registered {
			mod = append(mod, u.Profile)
		} else {
			reg = append(reg, u.Profile)
		}
	}
	justRegistered := map[string]bool{}
	if len(reg) > 0 {
		for id, r := range call(ctx, s.Register, reg) {
			v := outs[id]
			switch r.Outcome {
			case OK, Exists:
				v.registered = &yes
				justRegistered[id] = true
				if r.Outcome == Exists || byID[id].Extra != "" {
					mod = append(mod, byID[id].Profile)
				} else {
					v.done = true
				}
			case NotRegistered:
				v.fail = Result{Outcome: Transient, Code: r.Code, Message: r.Message}
			default:
				v.fail = r
			}
		}
	}
	if len(mod) > 0 {
		for id, r := range call(ctx, s.Modify, mod) {
			v := outs[id]
			switch {
			case r.Outcome == OK:
				v.done = true
			case r.Outcome == NotRegistered && !justRegistered[id]:
				v.registered, v.again = &no, true
			case r.Outcome == NotRegistered, r.Outcome == Exists:
				v.fail = Result{Outcome: Transient, Code: r.Code, Message: r.Message}
			default:
				v.fail = r
			}
		}
	}
	return outs
}

// call calls f with ps and returns a Result for every one of them.
func call(ctx context.Context, f func(context.Context, []Profile) ([]Result, error), ps []Profile) map[string]Result {
	out := make(map[string]Result, len(ps))
	rs, err := f(ctx, ps)
	if err != nil {
		msg := "request failed"
		if ctx.Err() != nil {
			msg = "request timed out"
		}
		for _, p := range ps {
			out[p.UserID] = Result{Outcome: Transient, Message: msg}
		}
		return out
	}
	want := make(map[string]bool, len(ps))
	for _, p := range ps {
		want[p.UserID] = true
	}
	for _, r := range rs {
		if want[r.UserID] {
			out[r.UserID] = r
		}
	}
	for _, p := range ps {
		if _, ok := out[p.UserID]; !ok {
			out[p.UserID] = Result{UserID: p.UserID, Outcome: Transient, Message: "no answer for this user"}
		}
	}
	return out
}

// finish records the outcome of a round's sends in one transaction. Every
// statement is conditioned on this worker's lease, so a worker whose lease
// expired and was taken over changes nothing; a row is deleted only if its
// version did not move while it was sent.
func (w *Worker) finish(ctx context.Context, appID uint32, rows map[string]claimed, outs map[string]*verdict) error {
	now := w.clock.Now()
	t := now.UnixMicro()
	app := int64(appID)
	rateLimited := false
	type outcome struct {
		id     string
		synced bool
		code   int64
	}
	var told []outcome // for w.sent, once committed
	tx, err := w.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if err == nil {
			_, err = tx.ExecContext(ctx, q, args...)
		}
	}
	const mine = ` WHERE user_id = $1 AND app_id = $2 AND claimed_by = $3`
	// Released rows lose their lease; a row whose version moved is due at
	// once, since it holds a change this round did not send.
	const release = `claimed_by = '', claimed_until = 0`
	// In the order of the users' IDs, the order Enqueue writes in, so that
	// on PostgreSQL two transactions never wait for each other's rows.
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		c := rows[id]
		v, ok := outs[id]
		if !ok { // the user was deleted: ZIM has no delete, nothing to send
			exec(`DELETE FROM zim_outbox`+mine+` AND version = $4`, id, app, w.id, c.version)
			continue
		}
		// What ZIM now has of the user, written before the outbox row is
		// touched and only while the user exists: a user deleted during
		// the send has nothing left to record, and must not fail the
		// transaction of the whole batch. (Locking the user's key first
		// takes locks in the order a DELETE of the user does.)
		if v.done || v.registered != nil {
			registered, synced := v.done, int64(0)
			if v.registered != nil {
				registered = *v.registered
			}
			if v.done {
				registered, synced = true, t
			}
			exec(`INSERT INTO zim_synced (user_id, app_id, registered, synced_at)
				SELECT id, CAST($2 AS BIGINT), CAST($3 AS BOOLEAN), CAST($4 AS BIGINT) FROM users WHERE id = $1`+w.db.ForKeyShare()+`
				ON CONFLICT (user_id, app_id) DO UPDATE SET registered = excluded.registered,
					synced_at = CASE WHEN excluded.synced_at > 0 THEN excluded.synced_at ELSE zim_synced.synced_at END`,
				id, app, registered, synced)
		}
		switch {
		case v.done:
			told = append(told, outcome{id: id, synced: true})
			exec(`DELETE FROM zim_outbox`+mine+` AND version = $4`, id, app, w.id, c.version)
			exec(`UPDATE zim_outbox SET `+release+`, attempts = 0, unknown_answers = 0, next_attempt_at = $4`+mine, id, app, w.id, t)
		case v.again:
			exec(`UPDATE zim_outbox SET `+release+`, next_attempt_at = $4`+mine, id, app, w.id, t)
		default:
			f := v.fail
			w.m.failure(f.Code)
			// Parked for good: a refusal, or a code ZEGO kept answering
			// that we cannot classify. Only those reach the audit trail, not
			// every retry.
			park := f.Outcome == Permanent || (f.Outcome == Unclassified && c.unknown+1 >= maxUnknownAnswers)
			if park {
				told = append(told, outcome{id: id, code: f.Code})
			}
			msg := truncate(f.Message, maxErrorText)
			w.log.Warn("zim sync failed", "app", appID, "user", id, "code", f.Code, "message", msg)
			switch f.Outcome {
			case RateLimited:
				rateLimited = true
				until := w.paused.strike(appID, now)
				exec(`UPDATE zim_outbox SET `+release+`, next_attempt_at = $4, last_code = $5, last_error = $6`+mine,
					id, app, w.id, until.UnixMicro(), f.Code, msg)
			case Permanent:
				// Parked only if the profile sent is still the user's: a
				// change made meanwhile may be the fix, and is sent at once.
				exec(`UPDATE zim_outbox SET `+release+`, parked = (version = $4), next_attempt_at = $5,
					attempts = attempts + 1, last_code = $6, last_error = $7`+mine,
					id, app, w.id, c.version, t, f.Code, msg)
			default:
				// Transient, or a code we cannot classify (Unclassified):
				// both retried with backoff. Unclassified answers in a row end in
				// parking like a refusal (visible, retried on the next
				// change); anything else in between starts the count again,
				// so an outage (no code) or a known transient code never
				// parks a row: it must lose nothing.
				unknown := 0
				if f.Outcome == Unclassified {
					unknown = c.unknown + 1
				}
				next := now.Add(retryDelay(c.attempts + 1))
				exec(`UPDATE zim_outbox SET `+release+`, attempts = attempts + 1, unknown_answers = $9,
					parked = (CAST($10 AS BOOLEAN) AND version = $4),
					next_attempt_at = CASE WHEN version = $4 THEN CAST($5 AS BIGINT) ELSE CAST($6 AS BIGINT) END, last_code = $7, last_error = $8`+mine,
					id, app, w.id, c.version, next.UnixMicro(), t, f.Code, msg, unknown, park)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	if !rateLimited {
		w.paused.clear(appID)
	}
	if w.sent != nil {
		for _, o := range told {
			w.sent(appID, o.id, o.synced, o.code)
		}
	}
	return nil
}

// refreshStats updates the gauges from the outbox rows of apps, those
// with sync on (rows of an app turned off wait, and would only age), at
// most every statsEvery: the query reads the apps' rows.
func (w *Worker) refreshStats(ctx context.Context, apps []uint32) error {
	now := w.clock.Now()
	if !w.stats.due(now) {
		return nil
	}
	var depth, parked int64
	var oldest sql.NullInt64
	if len(apps) > 0 {
		var args sqldb.Args
		ids := make([]any, len(apps))
		for i, a := range apps {
			ids[i] = int64(a)
		}
		err := w.db.Reader.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN parked THEN 1 ELSE 0 END), 0),
			MIN(CASE WHEN parked THEN NULL ELSE enqueued_at END) FROM zim_outbox WHERE app_id IN (`+args.List(ids...)+`)`,
			args...).Scan(&depth, &parked, &oldest)
		if err != nil {
			return fmt.Errorf("outbox stats: %w", err)
		}
	}
	age := 0.0
	if oldest.Valid {
		age = max(0, now.Sub(time.UnixMicro(oldest.Int64)).Seconds())
	}
	w.m.depth.Set(float64(depth))
	w.m.parked.Set(float64(parked))
	w.m.oldest.Set(age)
	return nil
}
