package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/testlog"
	"authsvc/internal/users"
	"authsvc/internal/zego"
	"authsvc/internal/zego/zegofake"
	"authsvc/internal/zimsync"
)

const zimTestApp, zimTestSecret = 1234567890, "e2e0123456789abcdef0123456789abc"

// TestZIMSenderAgainstTheFake runs the sync worker with zimSender over a
// real zego.Client against the fake ZEGO server: new users are registered,
// one ZIM already has is modified instead, one ZIM refuses for good is
// parked with ZIM's code, and a change afterwards reaches ZIM as the
// registry's final state.
func TestZIMSenderAgainstTheFake(t *testing.T) {
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
		db := d.Open(t)
		outbox := zimsync.NewOutbox(db, time.Now)
		store, err := users.NewStore(db, users.Options{Hash: users.HashParams{Memory: 64, Time: 1, Threads: 1},
			OnChange: func(ctx context.Context, tx *sql.Tx, ids ...string) error {
				return outbox.Enqueue(ctx, tx, zimTestApp, ids...)
			}})
		if err != nil {
			t.Fatal(err)
		}
		w, err := zimsync.NewWorker(zimsync.Config{
			DB: db, Senders: func() map[uint32]zimsync.Sender { return map[uint32]zimsync.Sender{zimTestApp: zimSender{client}} },
			Clock: zimsync.SystemClock{}, Logger: slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}

		fake.PutUser(zegofake.User{ID: "known", Name: "Old name"})
		fake.FailUser("refused", zegofake.CodeUserAvatarTooLong)
		for _, u := range []users.CreateParams{{ID: "ann", Name: "Ann"}, {ID: "known", Name: "Known"}, {ID: "refused", Name: "R"}} {
			if _, err := store.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		for round := 0; round < 5; round++ { // register; modify the one that exists
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if u, ok := fake.User("ann"); !ok || u.Name != "Ann" {
			t.Errorf("ZIM has ann = %+v, %v", u, ok)
		}
		if u, ok := fake.User("known"); !ok || u.Name != "Known" {
			t.Errorf("ZIM has known = %+v, %v; want the registry's name", u, ok)
		}
		st, err := outbox.State(ctx, zimTestApp, "refused")
		if err != nil || st.Status != zimsync.Failed || st.Code != zegofake.CodeUserAvatarTooLong {
			t.Errorf("refused: state %+v, %v; want failed with %d", st, err, zegofake.CodeUserAvatarTooLong)
		}
		if st, err := outbox.State(ctx, zimTestApp, "ann"); err != nil || st.Status != zimsync.Synced {
			t.Errorf("ann: state %+v, %v; want synced", st, err)
		}

		// The admin fixes the user; ZIM takes it now.
		fake.HealUser("refused")
		name := "Fixed"
		if _, _, err := store.Update(ctx, "refused", users.Patch{Name: &name}); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 3; round++ {
			if _, err := w.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if u, ok := fake.User("refused"); !ok || u.Name != "Fixed" {
			t.Errorf("ZIM has refused = %+v, %v; want it registered as Fixed", u, ok)
		}
	})
}

// TestZIMSyncCommand: "authsvc zim sync" enqueues the users ZIM never
// received, once; with --all, everyone.
func TestZIMSyncCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("", "user", "add", "--user-id", "ann")
	c.ok("", "user", "add", "--user-id", "bob")
	if _, stderr, code := c.run("", "zim", "sync"); code != 2 || !strings.Contains(stderr, "--app-id") {
		t.Errorf("zim sync without an app = %d, %q; want a usage error naming --app-id", code, stderr)
	}
	c.env["AUTHSVC_APP_ID"] = "7"
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{[]string{"zim", "sync", "--json"}, 2},
		{[]string{"zim", "sync", "--json"}, 0},
		{[]string{"zim", "sync", "--json", "--all"}, 2},
		{[]string{"zim", "sync", "--json", "--app-id", "8"}, 2},
	} {
		var out struct {
			AppID    uint32
			Enqueued int64
		}
		if err := json.Unmarshal([]byte(c.ok("", tc.args...)), &out); err != nil || out.Enqueued != tc.want {
			t.Errorf("%v: %+v, %v; want %d enqueued", tc.args, out, err, tc.want)
		}
	}
}

// TestServeKeepsZEGOInStep runs serve with ZIM sync on against the fake
// ZEGO server, on both dialects: a user created through the API reaches
// ZIM, a rename follows, GET /v1/users/{id} shows the sync state, the audit
// trail records the sends, and a disable kicks the user out of the RTC room
// of the room token it held.
func TestServeKeepsZEGOInStep(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, d sqldbtest.Dialect) {
		t.Parallel()
		fake, url := zegofake.Start(t, zegofake.Options{AppID: zimTestApp, ServerSecret: zimTestSecret})
		env := productionEnv(t)
		env["AUTHSVC_DB"] = d.DSN(t)
		env["AUTHSVC_ZIM_SYNC"] = "true"
		env["AUTHSVC_ZIM_API_URL"], env["AUTHSVC_RTC_API_URL"] = url, url
		srv := startServer(t, env)

		call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "ann", "userName": "Ann", "password": e2ePassword}, 201, nil)
		eventually(t, "ann in ZIM", func() bool { u, ok := fake.User("ann"); return ok && u.Name == "Ann" })
		call(t, "PATCH", srv.url+"/v1/users/ann", e2eAdminKey, map[string]any{"userName": "Ann B", "extendedData": `{"level":2}`}, 200, nil)
		eventually(t, "ann's new profile in ZIM", func() bool {
			u, _ := fake.User("ann")
			return u.Name == "Ann B" && u.Extra == `{"level":2}`
		})
		var got api.User
		eventually(t, "ann synced", func() bool {
			call(t, "GET", srv.url+"/v1/users/ann", e2eAdminKey, nil, 200, &got)
			return len(got.ZIMSync) == 1 && got.ZIMSync[0].State == "synced"
		})
		if s := got.ZIMSync[0]; s.AppID != 1234567890 || s.SyncedAt == "" || s.Code != 0 {
			t.Errorf("zimSync = %+v", s)
		}
		// A profile ZIM would refuse never gets in: the registry holds ZIM's limits.
		long := "https://example.com/" + strings.Repeat("a", 500)
		call(t, "PATCH", srv.url+"/v1/users/ann", e2eAdminKey, map[string]any{"avatarURL": long}, 400, nil)

		var session struct{ AccessToken string }
		call(t, "POST", srv.url+"/v1/sessions", "", map[string]any{"userID": "ann", "password": e2ePassword}, 200, &session)
		call(t, "POST", srv.url+"/v1/token", session.AccessToken, map[string]any{"room": map[string]any{"roomID": "room-9", "login": true}}, 200, nil)
		call(t, "PATCH", srv.url+"/v1/users/ann", e2eAdminKey, map[string]any{"disabled": true}, 200, nil)
		eventually(t, "ann kicked out of room-9", func() bool {
			for _, c := range fake.Calls() {
				if c.Action == "KickoutUser" && c.RoomID == "room-9" && slices.Equal(c.UserIDs, []string{"ann"}) && c.Code == zegofake.CodeOK {
					return true
				}
			}
			return false
		})

		var page struct {
			Events []struct{ Event, UserID, Actor string }
		}
		eventually(t, "zim.synced in the audit trail", func() bool {
			call(t, "GET", srv.url+"/v1/audit?event=zim.synced", e2eAdminKey, nil, 200, &page)
			return len(page.Events) >= 2
		})
		if e := page.Events[0]; e.UserID != "ann" || e.Actor != "zim-sync" {
			t.Errorf("zim.synced event = %+v", e)
		}
	})
}

// TestZIMSyncSurvivesSIGKILL kills a replica with SIGKILL while the sync
// outbox holds thousands of updates (ZEGO takes no call while the users are
// imported, then two calls a second, so few get out: some users reach ZIM
// under an old name before they are renamed),
// starts another on the same database once ZEGO is back to full speed, and
// checks that ZIM ends up with every user exactly as the registry's final
// state says, and that no user's profile ever went back to an older one.
func TestZIMSyncSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a crash test of about 40 s")
	}
	dsn := sqldbtest.NewSchema(t)
	fake, url := zegofake.Start(t, zegofake.Options{AppID: zimTestApp, ServerSecret: zimTestSecret, Rate: 2})
	env := replicaEnv(t, dsn)
	env["AUTHSVC_ZIM_SYNC"] = "true"
	env["AUTHSVC_ZIM_API_URL"], env["AUTHSVC_RTC_API_URL"] = url, url
	env["AUTHSVC_RATE_LOGIN_USER"] = "off"
	first := startReplicas(t, 1, env)[0]

	// None gets out while the outbox fills, however slow the machine is
	// (a rate in wall-clock time would let a slow import leak thousands).
	fake.SetRate(0)
	const imports, perImport, renamed, renames = 11, 1000, 500, 3
	for i := range imports {
		var users []map[string]any
		for j := range perImport {
			users = append(users, map[string]any{"userID": fmt.Sprintf("u%02d-%04d", i, j), "userName": "v0"})
		}
		call(t, "POST", first.url+"/v1/users/import", e2eAdminKey, map[string]any{"users": users}, 200, nil)
	}
	fake.SetRate(2) // slow, not hung, while the renames race the sends
	for k := 1; k <= renames; k++ {
		for j := range renamed {
			call(t, "PATCH", first.url+fmt.Sprintf("/v1/users/u00-%04d", j), e2eAdminKey, map[string]any{"userName": fmt.Sprintf("v%d", k)}, 200, nil)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var depth int
	if err := db.QueryRow(`SELECT COUNT(*) FROM zim_outbox`).Scan(&depth); err != nil {
		t.Fatal(err)
	}
	// Two calls a second leave thousands queued even if the renames took
	// half a minute; the point is a large outbox at the kill.
	if depth < 5_000 {
		t.Fatalf("outbox holds %d users before the kill, want at least 5,000", depth)
	}
	first.kill(t)
	early := 0
	for _, c := range fake.Calls() {
		for _, u := range c.Users {
			if c.Applied(u.ID) {
				early++
			}
		}
	}
	t.Logf("killed the replica with %d users in the outbox, after ZIM took %d profiles", depth, early)

	fake.SetRate(20)
	startReplicas(t, 1, env)
	// Until the outbox is empty; the batch the dead replica held comes back
	// when its 30 s lease has run out.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if err := db.QueryRow(`SELECT COUNT(*) FROM zim_outbox`).Scan(&depth); err != nil {
			t.Fatal(err)
		}
		if depth == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d users still in the outbox", depth)
		}
		time.Sleep(200 * time.Millisecond)
	}

	rows, err := db.Query(`SELECT id, name, avatar_url, extended_data FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, name, avatar, extra string
		if err := rows.Scan(&id, &name, &avatar, &extra); err != nil {
			t.Fatal(err)
		}
		n++
		if u, ok := fake.User(id); !ok || u.Name != name || u.Avatar != avatar || u.Extra != extra {
			t.Errorf("ZIM has %s as %+v, %v; the registry says %q %q %q", id, u, ok, name, avatar, extra)
		}
	}
	if n != imports*perImport {
		t.Errorf("%d users in the registry, want %d", n, imports*perImport)
	}
	// In order: the names ZIM took for a user never go back (v0 < v1 < ...),
	// and some users did change name in ZIM, so the check had something to
	// see.
	last := map[string]string{}
	changed := 0
	for _, c := range fake.Calls() {
		for _, u := range c.Users {
			if !c.Applied(u.ID) {
				continue
			}
			prev, seen := last[u.ID]
			if u.Name < prev {
				t.Errorf("ZIM took %s's name %q after %q", u.ID, u.Name, prev)
			}
			if seen && u.Name != prev {
				changed++
			}
			last[u.ID] = u.Name
		}
	}
	if changed == 0 {
		t.Error("no user's name changed in ZIM: the order was never put to the test")
	}
	t.Logf("%d users renamed in ZIM after an older name", changed)
}

// TestUserCommandsQueueForZIM: with ZIM sync on, "authsvc user" queues its
// changes for the server's sync worker and holds profiles to ZIM's limits,
// as the API does.
func TestUserCommandsQueueForZIM(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["AUTHSVC_ZIM_SYNC"], c.env["AUTHSVC_APP_ID"] = "true", "7"
	c.ok("", "user", "add", "--user-id", "ann")
	var out struct{ Enqueued int64 }
	if err := json.Unmarshal([]byte(c.ok("", "zim", "sync", "--json")), &out); err != nil || out.Enqueued != 0 {
		t.Errorf("zim sync after user add = %+v, %v; want nothing left to enqueue: the add queued ann", out, err)
	}
	long := "https://example.com/" + strings.Repeat("a", 500)
	if stderr := c.fails(1, "user", "add", "--user-id", "bob", "--avatar-url", long); !strings.Contains(stderr, "avatarURL") {
		t.Errorf("user add with an avatar ZIM refuses: %q", stderr)
	}
	c.env["AUTHSVC_APP_ID"] = ""
	if stderr := c.fails(1, "user", "add", "--user-id", "carol"); !strings.Contains(stderr, "AUTHSVC_APP_ID") {
		t.Errorf("user add with sync on and no app: %q", stderr)
	}
}

// TestUserCommandsReadTheAppsFile: with an apps file serve accepts (its own
// token lifetimes, secrets in files the operator may not read), the user
// commands queue for its syncing apps only.
func TestUserCommandsReadTheAppsFile(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "apps.json")
	err := os.WriteFile(file, []byte(`{"default": 7, "apps": [
		{"appID": 7, "secretFile": "no-such-secret", "tokenTTL": "10m", "tokenMaxTTL": "30m", "zim": {"sync": true}},
		{"appID": 8, "secret": "e2e0123456789abcdef0123456789abc"}]}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	c.env["AUTHSVC_APPS_FILE"] = file
	c.ok("", "user", "add", "--user-id", "ann")
	for app, want := range map[string]int64{"7": 0, "8": 1} { // 7 queued ann already; 8 does not sync
		var out struct{ Enqueued int64 }
		if err := json.Unmarshal([]byte(c.ok("", "zim", "sync", "--json", "--app-id", app)), &out); err != nil || out.Enqueued != want {
			t.Errorf("zim sync --app-id %s = %+v, %v; want %d enqueued", app, out, err, want)
		}
	}
}

// countedSlots are zego.Slots that are always free and count the askings.
type countedSlots struct{ asked atomic.Int64 }

func (s *countedSlots) Allow(context.Context, string) (bool, time.Duration, error) {
	s.asked.Add(1)
	return true, 0, nil
}

// TestZegoStepClientsShareSlots: every call of the clients zegoStep makes
// takes a slot from its slots (Redis's in serve, TestZEGOCallsShareSlots).
func TestZegoStepClientsShareSlots(t *testing.T) {
	t.Parallel()
	fake, url := zegofake.Start(t, zegofake.Options{AppID: zimTestApp, ServerSecret: zimTestSecret})
	z := newZegoStep(sqldbtest.Dialects[0].Open(t), nil)
	slots := &countedSlots{}
	z.slots = slots
	c, err := z.client(apps.App{ID: zimTestApp, Secret: []byte(zimTestSecret), ZIM: apps.ZIM{Sync: true, APIURL: url, RTCAPIURL: url}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.UserRegister(t.Context(), []zego.User{{ID: fmt.Sprint("s", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := slots.asked.Load(); n != 3 || len(fake.Users()) != 3 {
		t.Errorf("3 calls asked the slots %d times and registered %d users, want 3 and 3", n, len(fake.Users()))
	}
}
