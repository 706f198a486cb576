package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/testlog"
	"authsvc/internal/users"
	"authsvc/internal/zego"
	"authsvc/internal/zego/zegofake"
	"authsvc/internal/zimsync"
)

// stepClock is the kick-out worker's clock in tests: it moves when told.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRTCKickerAgainstTheFake wires room grants, the store's revocation
// hook and the kick-out worker with rtcKicker over a real zego.Client, as
// serve does, against the fake ZEGO server: disabling a user sends one
// signed KickoutUser per room; a 5xx is retried, and the retry reaches the
// fake.
func TestRTCKickerAgainstTheFake(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		ctx := context.Background()
		fake, url := zegofake.Start(t, zegofake.Options{AppID: zimTestApp, ServerSecret: zimTestSecret})
		client, err := zego.NewClient(zego.Config{
			AppID: zimTestApp, ServerSecret: zimTestSecret, ZIMURL: url, RTCURL: url,
			HTTPClient: &http.Client{Timeout: 10 * time.Second}, Now: time.Now, Rand: rand.Reader,
		})
		if err != nil {
			t.Fatal(err)
		}
		clock := &stepClock{t: time.Now()}
		db := d.Open(t)
		rooms := zimsync.NewRooms(db, clock.Now)
		store, err := users.NewStore(db, users.Options{Hash: users.HashParams{Memory: 64, Time: 1, Threads: 1}, OnRevoke: rooms.Revoke})
		if err != nil {
			t.Fatal(err)
		}
		w, err := zimsync.NewKickoutWorker(zimsync.KickoutConfig{
			DB: db, Kickers: func() map[uint32]zimsync.Kicker { return map[uint32]zimsync.Kicker{zimTestApp: rtcKicker{client}} },
			Clock: clock, Logger: slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"ann", "bo"} {
			if _, err := store.Create(ctx, users.CreateParams{ID: id}); err != nil {
				t.Fatal(err)
			}
			for _, room := range []string{"room 1", "stage"} {
				if ok, err := rooms.Grant(ctx, zimTestApp, id, room, clock.Now().Add(time.Hour)); err != nil || !ok {
					t.Fatalf("Grant = %v, %v", ok, err)
				}
			}
		}
		for _, id := range []string{"ann", "bo"} {
			if _, err := store.SetDisabled(ctx, id, true); err != nil {
				t.Fatal(err)
			}
		}
		fake.FailNext(1, http.StatusBadGateway) // the first call, "room 1"'s
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute) // past the retry's backoff
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		type kick struct {
			Room   string
			Users  []string
			Reason string
			Status int
		}
		var got []kick
		for _, c := range fake.Calls() {
			if c.Action != "KickoutUser" || c.Code != zegofake.CodeOK {
				t.Errorf("fake got %s answered %d, code %d; want KickoutUser, 0", c.Action, c.Status, c.Code)
			}
			got = append(got, kick{c.RoomID, c.UserIDs, c.Reason, c.Status})
		}
		want := []kick{
			{Status: http.StatusBadGateway}, // the fake records no parameters of a call it failed
			{"stage", []string{"ann", "bo"}, zimsync.DefaultKickoutReason, http.StatusOK},
			{"room 1", []string{"ann", "bo"}, zimsync.DefaultKickoutReason, http.StatusOK},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("KickoutUser calls (-want +got):\n%s", diff)
		}
		var left int
		if err := db.Reader.QueryRow(`SELECT COUNT(*) FROM rtc_kickouts`).Scan(&left); err != nil || left != 0 {
			t.Errorf("kick-out outbox holds %d rows (%v), want 0", left, err)
		}
	})
}

// TestRTCKickerOutcomes: how rtcKicker classifies ZEGO's answers.
func TestRTCKickerOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake, url := zegofake.Start(t, zegofake.Options{AppID: zimTestApp, ServerSecret: zimTestSecret})
	kicker := func(secret string) rtcKicker {
		c, err := zego.NewClient(zego.Config{AppID: zimTestApp, ServerSecret: secret, ZIMURL: url, RTCURL: url,
			HTTPClient: &http.Client{Timeout: 10 * time.Second}, Now: time.Now, Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		return rtcKicker{c}
	}
	good, wrong := kicker(zimTestSecret), kicker("ffffffffffffffffffffffffffffffff")
	tests := []struct {
		name    string
		k       rtcKicker
		ids     []string
		fail    int // FailNext status, 0 for none
		want    zimsync.Result
		wantErr bool
	}{
		{"ok", good, []string{"a"}, 0, zimsync.Result{Outcome: zimsync.OK}, false},
		{"signature", wrong, []string{"a"}, 0, zimsync.Result{Outcome: zimsync.Transient, Code: zegofake.CodeSignatureWrong, Message: "signature wrong"}, false},
		{"too many users", good, []string{"1", "2", "3", "4", "5", "6"}, 0, zimsync.Result{Outcome: zimsync.Permanent, Message: "invalid request"}, false},
		{"5xx", good, []string{"a"}, http.StatusServiceUnavailable, zimsync.Result{}, true},
	}
	for _, tt := range tests { // one after another: FailNext is the fake's
		if tt.fail != 0 {
			fake.FailNext(1, tt.fail)
		}
		got, err := tt.k.Kickout(ctx, "r", tt.ids, "bye")
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: Kickout = %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
