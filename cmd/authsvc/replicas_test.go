package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"authsvc/internal/redistest"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/testlog"
	"authsvc/internal/users"
)

// replica is "authsvc serve" in a child process: this test binary run
// again as TestReplicaChild, so it can be killed with SIGKILL.
type replica struct {
	name   string
	url    string
	cmd    *exec.Cmd
	stderr *testlog.Buffer
	logs   *lineWatch
	exited chan struct{} // closed when the process has exited
}

// TestReplicaChild is the body of a replica; it does nothing in a normal
// run. It serves with the configuration of its environment, as main does,
// until SIGTERM.
func TestReplicaChild(t *testing.T) {
	if os.Getenv("AUTHSVC_TEST_REPLICA_CHILD") != "1" {
		t.Skip("only as a child of the replica tests")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runEnv(ctx, []string{"authsvc", "serve"}, os.Getenv, os.Environ, strings.NewReader(""), os.Stdout, os.Stderr)
	fmt.Fprintln(os.Stderr, "replica ended:", err)
}

// startReplicas starts n replicas with env at once and returns when each
// has logged the address it listens on. They are stopped with SIGTERM, or
// killed if that is not enough, when the test ends.
func startReplicas(t *testing.T, n int, env map[string]string) []*replica {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]*replica, n)
	for i := range rs {
		r := &replica{name: fmt.Sprintf("replica %d", i+1), stderr: &testlog.Buffer{}, logs: newLineWatch(), exited: make(chan struct{})}
		r.cmd = exec.Command(exe, "-test.run=^TestReplicaChild$", "-test.count=1")
		r.cmd.Env = append(os.Environ(), "AUTHSVC_TEST_REPLICA_CHILD=1", "AUTHSVC_ADDR=127.0.0.1:0")
		for k, v := range env {
			r.cmd.Env = append(r.cmd.Env, k+"="+v)
		}
		r.cmd.Stderr = io.MultiWriter(r.stderr, r.logs)
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { r.cmd.Wait(); close(r.exited) }()
		t.Cleanup(func() {
			r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.exited:
			case <-time.After(hangGuardLong):
				r.cmd.Process.Kill()
				<-r.exited
			}
			if t.Failed() {
				t.Logf("%s's log:\n%s", r.name, r.stderr)
			}
		})
		rs[i] = r
	}
	for _, r := range rs {
		r.logs.await(t, r.name+"'s listening address", r.exited, func(lines []string) bool {
			for _, l := range lines {
				var line struct{ Msg, Addr string }
				if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "listening" {
					r.url = "http://" + line.Addr
					return true
				}
			}
			return false
		})
	}
	return rs
}

// kill ends r with SIGKILL: no shutdown, no flush.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.exited
}

func randomID(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// replicaEnv is the configuration of the README's "Three replicas on one
// machine" recipe, with the test's own PostgreSQL schema, Redis key prefix
// and secrets in place of the recipe's, and every replica on a port of its
// own. It fails the test when the recipe sets anything serve does not know.
func replicaEnv(t *testing.T, dsn string) map[string]string {
	t.Helper()
	recipe := readmeBlock(t, "replicas-recipe")
	env := map[string]string{}
	known := map[string]bool{}
	for _, st := range serveSettings(flag.NewFlagSet("serve", flag.ContinueOnError), func(string) string { return "" }).list {
		known[st.Env] = true
	}
	for _, v := range secretVariables() {
		known[v] = true
	}
	for _, line := range strings.Split(recipe, "\n") {
		rest, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		for _, kv := range regexp.MustCompile(`(\w+)=('[^']*'|<[^>]*>|\S+)`).FindAllStringSubmatch(rest, -1) {
			if !known[kv[1]] {
				t.Errorf("the README's replica recipe sets %s, which serve does not read", kv[1])
			}
			env[kv[1]] = strings.Trim(kv[2], "'")
		}
	}
	if !strings.Contains(recipe, "authsvc serve --addr 127.0.0.1:$port") {
		t.Errorf("the README's replica recipe no longer starts serve with --addr per replica:\n%s", recipe)
	}
	prod := productionEnv(t)
	for _, k := range []string{"AUTHSVC_DB", "AUTHSVC_REDIS_URL", "AUTHSVC_APP_ID", "AUTHSVC_SERVER_SECRET", "AUTHSVC_ADMIN_TOKEN", "AUTHSVC_SESSION_KEY"} {
		if _, ok := env[k]; !ok {
			t.Errorf("the README's replica recipe does not set %s", k)
		}
	}
	env["AUTHSVC_DB"] = dsn
	env["AUTHSVC_REDIS_URL"] = redistest.URL(t)
	env["AUTHSVC_REDIS_KEY_PREFIX"] = redistest.Prefix(t)
	env["AUTHSVC_REDIS_TIMEOUT"] = "10s" // a loaded machine must not fall back to per-replica counting
	for _, k := range []string{"AUTHSVC_APP_ID", "AUTHSVC_SERVER_SECRET", "AUTHSVC_ADMIN_TOKEN", "AUTHSVC_SESSION_KEY"} {
		env[k] = prod[k]
	}
	env["AUTHSVC_RATE_LOGIN_IP"] = "off" // every attempt comes from 127.0.0.1
	return env
}

// TestThreeReplicas is the acceptance run, on three processes
// sharing one PostgreSQL schema and one Redis, configured as the README's
// recipe: started at once on an empty database, they migrate it once; a
// user created on the first logs in on the second and gets a token on the
// third; a disable on the first is refused by the others, and so is a
// logout; the login limit holds across them.
func TestThreeReplicas(t *testing.T) {
	t.Parallel()
	dsn := sqldbtest.NewSchema(t)
	rs := startReplicas(t, 3, replicaEnv(t, dsn))

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, versions int
	if err := db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != versions || rows == 0 {
		t.Errorf("schema_migrations: %d rows for %d versions; want each applied once", rows, versions)
	}

	// Each replica listens for the others' user changes: the fast path of
	// revocation, which the caches' lifetimes would otherwise hide below.
	ldb := sqldbtest.OpenPath(t, dsn)
	lstore, err := users.NewStore(ldb, users.Options{})
	if err != nil {
		t.Fatal(err)
	}
	name, err := lstore.ListenerName(context.Background())
	if err != nil || name == "" {
		t.Fatalf("ListenerName = %q, %v", name, err)
	}
	eventually(t, "three listeners", func() bool {
		var n int
		err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1`, name).Scan(&n)
		return err == nil && n == len(rs)
	})

	id := randomID("alice-")
	call(t, "POST", rs[0].url+"/v1/users", e2eAdminKey, map[string]any{"userID": id, "password": e2ePassword}, 201, nil)
	var session struct{ AccessToken string }
	call(t, "POST", rs[1].url+"/v1/sessions", "", map[string]any{"userID": id, "password": e2ePassword}, 200, &session)
	var tok struct{ Token, UserID string }
	call(t, "POST", rs[2].url+"/v1/token", session.AccessToken, map[string]any{}, 200, &tok)
	if tok.UserID != id || !strings.HasPrefix(tok.Token, "04") {
		t.Errorf("token from replica 3 = %+v", tok)
	}

	// Revocation everywhere: a disable on replica 1 ends the sessions and
	// stops tokens on 2 and 3, which had the user cached. (How soon is
	// logged, not asserted: a notification is the fast path, the cache's
	// lifetime the bound; the store's tests prove which one evicts.)
	var s2, s3 struct{ AccessToken string }
	call(t, "POST", rs[1].url+"/v1/sessions", "", map[string]any{"userID": id, "password": e2ePassword}, 200, &s2)
	call(t, "POST", rs[2].url+"/v1/sessions", "", map[string]any{"userID": id, "password": e2ePassword}, 200, &s3)
	call(t, "POST", rs[1].url+"/v1/token", s2.AccessToken, map[string]any{}, 200, nil)
	call(t, "POST", rs[2].url+"/v1/token", s3.AccessToken, map[string]any{}, 200, &tok)
	disabled := time.Now()
	call(t, "PATCH", rs[0].url+"/v1/users/"+id, e2eAdminKey, map[string]any{"disabled": true}, 200, nil)
	for i, sess := range map[int]string{1: s2.AccessToken, 2: s3.AccessToken} {
		eventually(t, fmt.Sprintf("replica %d refusing the disabled user", i+1), func() bool {
			code, _ := status(t, "POST", rs[i].url+"/v1/token", sess, map[string]any{})
			return code == http.StatusUnauthorized || code == http.StatusForbidden
		})
		t.Logf("replica %d refused the user %v after the disable on replica 1 answered", i+1, time.Since(disabled).Round(time.Millisecond))
		// Nor renew one, even for an admin.
		if code, pc := status(t, "POST", rs[i].url+"/v1/token/renew", e2eAdminKey, map[string]any{"token": tok.Token}); code != http.StatusForbidden || pc != "user_disabled" {
			t.Errorf("replica %d: renewing the disabled user's token = %d %s, want 403 user_disabled", i+1, code, pc)
		}
	}

	// A logout on replica 1 is honoured by the others too.
	carol := randomID("carol-")
	call(t, "POST", rs[0].url+"/v1/users", e2eAdminKey, map[string]any{"userID": carol, "password": e2ePassword}, 201, nil)
	var cs struct{ AccessToken string }
	call(t, "POST", rs[0].url+"/v1/sessions", "", map[string]any{"userID": carol, "password": e2ePassword}, 200, &cs)
	for _, r := range rs {
		call(t, "POST", r.url+"/v1/token", cs.AccessToken, map[string]any{}, 200, nil)
	}
	call(t, "DELETE", rs[0].url+"/v1/sessions/current", cs.AccessToken, nil, 204, nil)
	for i, r := range rs[1:] {
		eventually(t, fmt.Sprintf("replica %d refusing the ended session", i+2), func() bool {
			code, _ := status(t, "POST", r.url+"/v1/token", cs.AccessToken, map[string]any{})
			return code == http.StatusUnauthorized
		})
	}

	// The login limit (10/1m by default) holds across the replicas: of 30
	// wrong passwords for one user, round-robin, 10 reach the password check.
	victim := randomID("bob-")
	call(t, "POST", rs[0].url+"/v1/users", e2eAdminKey, map[string]any{"userID": victim, "password": e2ePassword}, 201, nil)
	got := map[int]int{}
	for i := range 30 {
		got[login(t, rs[i%3].url, victim, "not the password")]++
	}
	if got[http.StatusUnauthorized] != 10 || got[http.StatusTooManyRequests] != 20 || len(got) != 2 {
		t.Errorf("30 logins over 3 replicas: statuses %v, want 10×401 and 20×429", got)
	}
}

// TestReplicaKilledLosesNoAcknowledgedCreate: under a create load spread
// over three replicas, one is killed with SIGKILL; every create any replica
// acknowledged is in the database afterwards.
func TestReplicaKilledLosesNoAcknowledgedCreate(t *testing.T) {
	t.Parallel()
	dsn := sqldbtest.NewSchema(t)
	rs := startReplicas(t, 3, replicaEnv(t, dsn))

	ctx, stop := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				r := rs[(w+i)%len(rs)]
				id := fmt.Sprintf("k%d-%d", w, i)
				code, _, err := tryStatus("POST", r.url+"/v1/users", e2eAdminKey, map[string]any{"userID": id})
				if err == nil && code == http.StatusCreated {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	eventually(t, "creates under load", func() bool { return count() >= 100 })
	rs[2].kill(t)
	n := count()
	eventually(t, "creates on the survivors", func() bool { return count() >= n+100 })
	stop()
	wg.Wait()

	for _, id := range acked {
		if code, _ := status(t, "GET", rs[0].url+"/v1/users/"+id, e2eAdminKey, nil); code != http.StatusOK {
			t.Errorf("acknowledged user %s: GET = %d", id, code)
		}
	}
	t.Logf("%d creates acknowledged across the replicas, one killed midway", len(acked))
}

// readmeBlock returns the fenced code block of the README between
// <!-- name --> and <!-- /name -->.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	readme := readREADME(t)
	_, rest, ok := strings.Cut(readme, "<!-- "+name+" -->")
	block, _, ok2 := strings.Cut(rest, "<!-- /"+name+" -->")
	if !ok || !ok2 {
		t.Fatalf("README has no block marked %s", name)
	}
	return strings.TrimSpace(block)
}
