package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/sqldb"
	"authsvc/internal/zego"
	"authsvc/internal/zimsync"
)

// zimSender is the ZIM sync worker's Sender for one app: a zego.Client,
// with ZEGO's answers turned into one outcome per user.
type zimSender struct{ c *zego.Client }

func (s zimSender) Register(ctx context.Context, ps []zimsync.Profile) ([]zimsync.Result, error) {
	res, err := s.c.UserRegister(ctx, zegoUsers(ps))
	return results(ps, res, err)
}

func (s zimSender) Modify(ctx context.Context, ps []zimsync.Profile) ([]zimsync.Result, error) {
	res, err := s.c.ModifyUserInfo(ctx, zegoUsers(ps))
	return results(ps, res, err)
}

func zegoUsers(ps []zimsync.Profile) []zego.User {
	us := make([]zego.User, len(ps))
	for i, p := range ps {
		us[i] = zego.User{ID: p.UserID, Name: p.Name, Avatar: p.Avatar, Extra: p.Extra}
	}
	return us
}

// results gives every user of ps its outcome: OK unless ZEGO listed it as
// failed; for a call refused as a whole with a code, that code for every
// user (or each user's own, when ZEGO listed them). A call that got no
// answer ZEGO gave a code to (a timeout, a 5xx) is the error itself: the
// worker retries it as a whole.
func results(ps []zimsync.Profile, res zego.Result, err error) ([]zimsync.Result, error) {
	failed := res.Failed
	var whole zego.Code
	var message string
	if err != nil {
		var ze *zego.Error
		if !errors.As(err, &ze) || ze.Code == 0 {
			return nil, err
		}
		failed, whole, message = ze.Items, ze.Code, ze.Message
	}
	byID := make(map[string]zego.ItemError, len(failed))
	for _, f := range failed {
		byID[f.UserID] = f
	}
	out := make([]zimsync.Result, len(ps))
	for i, p := range ps {
		r := zimsync.Result{UserID: p.UserID, Outcome: zimsync.OK}
		code, msg := whole, message
		if f, ok := byID[p.UserID]; ok {
			code, msg = f.SubCode, f.SubMessage
		}
		if code != 0 {
			r.Outcome, r.Code, r.Message = outcome(code), int64(code), msg
		}
		out[i] = r
	}
	return out, nil
}

// outcome classifies one of ZEGO's codes for a user. A signature refusal
// is transient: it is the clock or a secret being rotated, not the user;
// so are ZEGO's own failures. A code none of this covers is Unclassified.
func outcome(c zego.Code) zimsync.Outcome {
	switch {
	case c.AlreadyExists():
		return zimsync.Exists
	case c.NotRegistered():
		return zimsync.NotRegistered
	case c.RateLimited():
		return zimsync.RateLimited
	case c.PermanentItem(), c == zego.CodeInvalidParameter:
		return zimsync.Permanent
	case c.Signature(), zego.Transient(&zego.Error{Code: c}):
		return zimsync.Transient
	}
	return zimsync.Unclassified
}

// zegoStep keeps ZEGO in step with the registry for the apps with ZIM
// sync on: it enqueues their users' changes in the sync outbox and their
// revocations as RTC kick-outs (both inside the users' transactions), records
// the rooms of their room tokens, and gives the two workers a client per
// app. The apps are the running configuration's; a reload swaps them.
type zegoStep struct {
	outbox *zimsync.Outbox
	rooms  *zimsync.Rooms
	hc     *http.Client
	// slots pace each app's ZEGO calls across replicas (Redis); nil: per
	// process. Set before run.
	slots zego.Slots

	apps atomic.Pointer[[]apps.App]

	mu      sync.Mutex
	clients map[uint32]zegoClient // of the apps with sync on
}

// zegoClient is an app's client, kept while its secret and hosts stay.
type zegoClient struct {
	secret, zimURL, rtcURL string
	c                      *zego.Client
}

// zegoTimeout bounds one call to ZEGO's server API.
const zegoTimeout = 10 * time.Second

// zegoRate is the calls per second per app and action the clients pace
// at, and the rate of the slots they share through Redis: one number, so
// that the two cannot disagree.
const zegoRate = zego.DefaultRate

func newZegoStep(db *sqldb.DB, as []apps.App) *zegoStep {
	z := &zegoStep{outbox: zimsync.NewOutbox(db, time.Now), rooms: zimsync.NewRooms(db, time.Now),
		hc: &http.Client{Timeout: zegoTimeout}, clients: map[uint32]zegoClient{}}
	z.setApps(as)
	return z
}

func (z *zegoStep) setApps(as []apps.App) { z.apps.Store(&as) }

// syncing lists the apps with sync on.
func (z *zegoStep) syncing() []apps.App {
	var out []apps.App
	for _, a := range *z.apps.Load() {
		if a.ZIM.Sync {
			out = append(out, a)
		}
	}
	return out
}

// onChange is users.Options.OnChange: the changed users go to the outbox of
// every app with sync on.
func (z *zegoStep) onChange(ctx context.Context, tx *sql.Tx, ids ...string) error {
	for _, a := range *z.apps.Load() {
		if !a.ZIM.Sync {
			continue
		}
		if err := z.outbox.Enqueue(ctx, tx, a.ID, ids...); err != nil {
			return err
		}
	}
	return nil
}

// Grant is httpapi.RoomGrants: a room token of an app with sync on is
// recorded, so that a revocation can kick its user out of the room; for
// other apps nothing is.
func (z *zegoStep) Grant(ctx context.Context, appID uint32, userID, roomID string, expiresAt time.Time) (bool, error) {
	for _, a := range *z.apps.Load() {
		if a.ID == appID && a.ZIM.Sync {
			return z.rooms.Grant(ctx, appID, userID, roomID, expiresAt)
		}
	}
	return true, nil
}

// client returns app's client, made anew when its secret or hosts changed.
func (z *zegoStep) client(a apps.App) (*zego.Client, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	want := zegoClient{secret: string(a.Secret), zimURL: a.ZIM.ZIMURL(), rtcURL: a.ZIM.RTCURL()}
	if c, ok := z.clients[a.ID]; ok && c.secret == want.secret && c.zimURL == want.zimURL && c.rtcURL == want.rtcURL {
		return c.c, nil
	}
	c, err := zego.NewClient(zego.Config{AppID: a.ID, ServerSecret: want.secret, ZIMURL: want.zimURL, RTCURL: want.rtcURL,
		HTTPClient: z.hc, Now: time.Now, Rand: rand.Reader, Rate: zegoRate, Shared: z.slots})
	if err != nil {
		return nil, fmt.Errorf("app %d: %w", a.ID, err)
	}
	want.c = c
	z.clients[a.ID] = want
	return c, nil
}

// clientsOf gives every app with sync on its client, wrapped by wrap; an
// app whose client cannot be made (a secret ZEGO's API cannot sign with)
// is left out, its rows waiting, and logged.
func clientsOf[T any](z *zegoStep, logger *slog.Logger, wrap func(*zego.Client) T) map[uint32]T {
	out := map[uint32]T{}
	for _, a := range z.syncing() {
		c, err := z.client(a)
		if err != nil {
			logger.Error("cannot call ZEGO's server API for the app", "app_id", a.ID, "error", err.Error())
			continue
		}
		out[a.ID] = wrap(c)
	}
	return out
}

// run runs the ZIM sync and RTC kick-out workers until ctx ends. What the
// sync worker sent goes to rec's audit trail (nil: none).
func (z *zegoStep) run(ctx context.Context, db *sqldb.DB, rec *audit.Recorder, logger *slog.Logger, reg prometheus.Registerer) error {
	sent := func(appID uint32, userID string, synced bool, code int64) {
		if rec == nil {
			return
		}
		e := audit.Event{Kind: audit.ZIMSynced, AppID: appID, UserID: userID, Actor: "zim-sync"}
		if !synced {
			e.Kind, e.Reason = audit.ZIMSyncFailed, strconv.FormatInt(code, 10)
		}
		rec.Record(e)
	}
	sender, err := zimsync.NewWorker(zimsync.Config{DB: db, Clock: zimsync.SystemClock{}, Logger: logger, Registerer: reg, Sent: sent,
		Senders: func() map[uint32]zimsync.Sender {
			return clientsOf(z, logger, func(c *zego.Client) zimsync.Sender { return zimSender{c} })
		}})
	if err != nil {
		return err
	}
	kick, err := zimsync.NewKickoutWorker(zimsync.KickoutConfig{DB: db, Clock: zimsync.SystemClock{}, Logger: logger, Registerer: reg,
		Kickers: func() map[uint32]zimsync.Kicker {
			return clientsOf(z, logger, func(c *zego.Client) zimsync.Kicker { return rtcKicker{c} })
		}})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { sender.Run(ctx) })
	wg.Go(func() { kick.Run(ctx) })
	wg.Wait()
	return nil
}

// syncState is httpapi.Deps.ZIMSync: the user's state with each app that
// has sync on.
func (z *zegoStep) syncState(ctx context.Context, userID string) ([]api.ZIMSyncState, error) {
	var out []api.ZIMSyncState
	for _, a := range z.syncing() {
		st, err := z.outbox.State(ctx, a.ID, userID)
		if err != nil {
			return nil, err
		}
		s := api.ZIMSyncState{AppID: a.ID, State: string(st.Status), Code: st.Code}
		if st.Status == zimsync.Unknown {
			s.State = "unknown"
		}
		if !st.SyncedAt.IsZero() {
			s.SyncedAt = api.FormatTime(st.SyncedAt)
		}
		out = append(out, s)
	}
	return out, nil
}
