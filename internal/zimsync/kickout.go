package zimsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authsvc/internal/sqldb"
)

// Kicker is what the KickoutWorker needs of a client of one app's RTC
// server API.
type Kicker interface {
	// Kickout is KickoutUser: it removes 1 to 5 users from room roomID
	// and stops their streams; reason reaches their SDKs. An error means
	// the call failed with nothing known (a network failure, a timeout, a
	// 5xx) and is retried; a call ZEGO answered with a code is a Result
	// (UserID unused) whose Outcome says what to do: OK, RateLimited,
	// Permanent (dropped) or Transient (retried). Errors and messages must
	// never carry the ServerSecret or a signature: the worker logs them.
	Kickout(ctx context.Context, roomID string, userIDs []string, reason string) (Result, error)
}

// KickoutConfig is what a KickoutWorker needs. DB, Kickers, Clock and
// Logger are required.
type KickoutConfig struct {
	DB *sqldb.DB
	// Kickers returns the client of every app whose revoked users are
	// kicked out of their rooms. It is called every round, so a reload of
	// the apps takes effect at the next. Rows of other apps wait, until
	// KickoutGiveUp after their grant expired.
	Kickers func() map[uint32]Kicker
	Clock   Clock
	Logger  *slog.Logger
	// Registerer gets the worker's metrics; nil registers none.
	Registerer prometheus.Registerer

	// ID names this worker in the leases it takes; a random one when
	// empty. Two workers must never share one.
	ID string
	// Lease is how long a claimed row stays this worker's, 30s when 0. The
	// calls of a round are given half of it.
	Lease time.Duration
	// Poll is the wait between rounds that found nothing to do, 1s when 0.
	Poll time.Duration
	// Batch is how many rows of an app a round claims, 100 when 0, at
	// most 100; rows of one room go five to a call.
	Batch int
	// Reason is the CustomReason the kicked-out users' SDKs receive,
	// DefaultKickoutReason when empty; at most 256 bytes.
	Reason string
}

// DefaultKickoutReason tells a kicked-out user's app why.
const DefaultKickoutReason = "access revoked"

// KickoutGiveUp is how long after its grant expired a kick-out is still
// tried. ZEGO leaves a user in a room past their token's expiry, so a
// kick-out stays useful for a while; after a day of failing it is
// dropped, which bounds the outbox when an app's RTC API stays out of
// reach.
const KickoutGiveUp = 24 * time.Hour

// kickoutUsers is the most users one KickoutUser call removes.
const kickoutUsers = 5

// KickoutWorker sends the kick-out outbox to RTC, one round after another,
// until its context ends. Several, in one process or in several replicas,
// may share one database: a row is claimed by one at a time.
type KickoutWorker struct {
	db      *sqldb.DB
	kickers func() map[uint32]Kicker
	clock   Clock
	log     *slog.Logger
	id      string
	lease   time.Duration
	poll    time.Duration
	batch   int
	reason  string
	m       *kickoutMetrics
	paused  pauses
	chores  every
}

// NewKickoutWorker returns a KickoutWorker, or an error naming what c
// lacks.
func NewKickoutWorker(c KickoutConfig) (*KickoutWorker, error) {
	switch {
	case c.DB == nil:
		return nil, errors.New("rtc kick-out worker: no database")
	case c.Kickers == nil:
		return nil, errors.New("rtc kick-out worker: no kickers")
	case c.Clock == nil:
		return nil, errors.New("rtc kick-out worker: no clock")
	case c.Logger == nil:
		return nil, errors.New("rtc kick-out worker: no logger")
	case c.Lease < 0 || c.Poll < 0 || c.Batch < 0 || c.Batch > 100:
		return nil, errors.New("rtc kick-out worker: Lease and Poll must not be negative, Batch must be 0 to 100")
	case len(c.Reason) > 256:
		return nil, errors.New("rtc kick-out worker: Reason is over 256 bytes")
	}
	m, err := newKickoutMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("rtc kick-out worker: %w", err)
	}
	return &KickoutWorker{db: c.DB, kickers: c.Kickers, clock: c.Clock, log: c.Logger, id: workerID(c.ID),
		lease: orDefault(c.Lease, defaultLease), poll: orDefault(c.Poll, defaultPoll), batch: orDefault(c.Batch, 100),
		reason: orDefault(c.Reason, DefaultKickoutReason), m: m, chores: every{d: statsEvery}}, nil
}

// Run runs rounds until ctx ends, at once after a round that had work and
// after Poll otherwise. It returns nil when ctx ends. A call in flight then
// is abandoned: its rows come back to a worker when their lease expires.
func (w *KickoutWorker) Run(ctx context.Context) error {
	return runRounds(ctx, w.clock, w.poll, w.log, "rtc kick-out round failed", w.RunOnce)
}

// RunOnce runs one round: for every app with a kicker and not paused by a
// rate limit, it claims up to Batch due rows, kicks their users out of
// their rooms, and records the outcomes. Every few seconds it also drops
// the kick-outs given up on, prunes expired grants and updates the depth
// gauge. It returns how many rows it claimed.
func (w *KickoutWorker) RunOnce(ctx context.Context) (int, error) {
	var total int
	var errs []error
	for appID, k := range w.kickers() {
		n, err := w.runApp(ctx, appID, k)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("app %d: %w", appID, err))
		}
	}
	if w.chores.due(w.clock.Now()) {
		if err := w.housekeeping(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// kickout is one claimed row.
type kickout struct {
	room, user string
	version    int64
	attempts   int
}

func (w *KickoutWorker) runApp(ctx context.Context, appID uint32, k Kicker) (int, error) {
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
	callCtx, cancel := context.WithDeadline(ctx, sendBy)
	outs := w.send(callCtx, k, rows)
	cancel()
	if ctx.Err() != nil {
		return len(rows), ctx.Err() // shutting down: the lease returns the rows
	}
	return len(rows), w.finish(ctx, appID, rows, outs)
}

// claim takes up to w.batch due rows of appID whose lease is free or
// expired and which are not given up on, in key order so that a room's
// users come together. On PostgreSQL rows another replica is claiming at
// the same moment are skipped, not waited for.
func (w *KickoutWorker) claim(ctx context.Context, appID uint32, now time.Time) ([]kickout, error) {
	t := now.UnixMicro()
	rs, err := w.db.Writer.QueryContext(ctx, `UPDATE rtc_kickouts SET claimed_by = $1, claimed_until = $2
		WHERE (app_id, room_id, user_id) IN (SELECT app_id, room_id, user_id FROM rtc_kickouts
			WHERE app_id = $3 AND next_attempt_at <= $4 AND claimed_until <= $4 AND expires_at > $5
			ORDER BY next_attempt_at, room_id, user_id LIMIT $6`+w.db.SkipLocked()+`)
		RETURNING room_id, user_id, version, attempts`,
		w.id, now.Add(w.lease).UnixMicro(), int64(appID), t, now.Add(-KickoutGiveUp).UnixMicro(), w.batch)
	if err != nil {
		return nil, fmt.Errorf("claim kick-outs: %w", err)
	}
	defer rs.Close()
	var rows []kickout
	for rs.Next() {
		var r kickout
		if err := rs.Scan(&r.room, &r.user, &r.version, &r.attempts); err != nil {
			return nil, fmt.Errorf("claim kick-outs: %w", err)
		}
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("claim kick-outs: %w", err)
	}
	slices.SortFunc(rows, func(a, b kickout) int { return cmp.Or(cmp.Compare(a.room, b.room), cmp.Compare(a.user, b.user)) })
	return rows, nil
}

// send kicks the users of rows, sorted by room and user, out of their
// rooms, up to five of one room a call, and returns the outcome of each
// row, in the order of rows.
func (w *KickoutWorker) send(ctx context.Context, k Kicker, rows []kickout) []Result {
	outs := make([]Result, len(rows))
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && end-start < kickoutUsers && rows[end].room == rows[start].room {
			end++
		}
		ids := make([]string, 0, end-start)
		for _, r := range rows[start:end] {
			ids = append(ids, r.user)
		}
		res, err := k.Kickout(ctx, rows[start].room, ids, w.reason)
		if err != nil {
			msg := "request failed"
			if ctx.Err() != nil {
				msg = "request timed out"
			}
			res = Result{Outcome: Transient, Message: msg}
		}
		for i := start; i < end; i++ {
			outs[i] = res
		}
		start = end
	}
	return outs
}

// finish records the outcomes of a round's calls in one transaction, in
// key order. Every statement is conditioned on this worker's lease, so a
// worker whose lease expired and was taken over changes nothing; a row
// kicked out is deleted only if no revocation renewed it meanwhile.
func (w *KickoutWorker) finish(ctx context.Context, appID uint32, rows []kickout, outs []Result) error {
	now := w.clock.Now()
	t := now.UnixMicro()
	app := int64(appID)
	rateLimited := false
	tx, err := w.db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finish kick-outs: %w", err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if err == nil {
			_, err = tx.ExecContext(ctx, q, args...)
		}
	}
	const mine = ` WHERE app_id = $1 AND room_id = $2 AND user_id = $3 AND claimed_by = $4`
	const release = `claimed_by = '', claimed_until = 0`
	var kicked, dropped int
	for i, r := range rows {
		o := outs[i]
		key := []any{app, r.room, r.user, w.id}
		switch o.Outcome {
		case OK:
			kicked++
			exec(`DELETE FROM rtc_kickouts`+mine+` AND version = $5`, append(key, r.version)...)
			exec(`UPDATE rtc_kickouts SET `+release+`, attempts = 0, next_attempt_at = $5`+mine, append(key, t)...)
			continue
		case Permanent:
			dropped++
		}
		w.m.failure(o.Code)
		msg := truncate(o.Message, maxErrorText)
		w.log.Warn("rtc kick-out failed", "app", appID, "room", r.room, "user", r.user, "code", o.Code, "message", msg)
		switch o.Outcome {
		case Permanent:
			// Sending it again cannot help: dropped, as logged.
			exec(`DELETE FROM rtc_kickouts`+mine, key...)
		case RateLimited:
			rateLimited = true
			until := w.paused.strike(appID, now)
			exec(`UPDATE rtc_kickouts SET `+release+`, next_attempt_at = $5, last_code = $6, last_error = $7`+mine,
				append(key, until.UnixMicro(), o.Code, msg)...)
		default:
			next := now.Add(retryDelay(r.attempts + 1))
			exec(`UPDATE rtc_kickouts SET `+release+`, attempts = attempts + 1, next_attempt_at = $5,
				last_code = $6, last_error = $7`+mine, append(key, next.UnixMicro(), o.Code, msg)...)
		}
	}
	if err != nil {
		return fmt.Errorf("finish kick-outs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish kick-outs: %w", err)
	}
	w.m.kicked.Add(float64(kicked))
	w.m.dropped.WithLabelValues("permanent").Add(float64(dropped))
	if !rateLimited {
		w.paused.clear(appID)
	}
	return nil
}

// pruneChunk bounds the rows one housekeeping statement deletes, so that
// it never holds the writer long.
const pruneChunk = 1000

// housekeeping drops the kick-outs given up on, prunes expired grants of
// every user (Grant prunes only its own user's) and updates the depth
// gauge.
func (w *KickoutWorker) housekeeping(ctx context.Context) error {
	now := w.clock.Now()
	res, err := w.db.Writer.ExecContext(ctx, `DELETE FROM rtc_kickouts WHERE (app_id, room_id, user_id) IN
		(SELECT app_id, room_id, user_id FROM rtc_kickouts WHERE expires_at <= $1 LIMIT $2`+w.db.SkipLocked()+`)`,
		now.Add(-KickoutGiveUp).UnixMicro(), pruneChunk)
	if err != nil {
		return fmt.Errorf("drop old kick-outs: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		w.m.dropped.WithLabelValues("expired").Add(float64(n))
		w.log.Warn("rtc kick-outs given up on", "rows", n, "after", KickoutGiveUp)
	}
	_, err = w.db.Writer.ExecContext(ctx, `DELETE FROM rtc_grants WHERE (user_id, app_id, room_id) IN
		(SELECT user_id, app_id, room_id FROM rtc_grants WHERE expires_at <= $1 LIMIT $2`+w.db.SkipLocked()+`)`,
		now.UnixMicro(), pruneChunk)
	if err != nil {
		return fmt.Errorf("prune room grants: %w", err)
	}
	var depth int64
	if err := w.db.Reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM rtc_kickouts`).Scan(&depth); err != nil {
		return fmt.Errorf("kick-out outbox stats: %w", err)
	}
	w.m.depth.Set(float64(depth))
	return nil
}
