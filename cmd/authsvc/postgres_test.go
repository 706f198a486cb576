package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authsvc/internal/sqldb/sqldbtest"
)

// postgresEnv is productionEnv on a schema of its own in the test
// PostgreSQL database, reached through a proxy the test can take down.
func postgresEnv(t *testing.T) (map[string]string, *tcpProxy) {
	t.Helper()
	u, err := url.Parse(sqldbtest.NewSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	env := productionEnv(t)
	env["AUTHSVC_DB"] = u.String()
	return env, proxy
}

// status sends a request and returns its status and problem code, failing
// the test if no answer comes within hangGuard: a server must answer, even
// when its database is gone.
func status(t *testing.T, method, url, credential string, body any) (int, string) {
	t.Helper()
	code, pc, err := tryStatus(method, url, credential, body)
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", method, url, err)
	}
	return code, pc
}

// tryStatus is status for a server that may be gone: no answer is an error.
func tryStatus(method, url, credential string, body any) (int, string, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := (&http.Client{Timeout: hangGuard}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var p struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, p.Code, nil
}

// eventually polls cond until it holds, failing after hangGuard. It waits on
// a server's reaction to an outside event (a database coming back), never to
// measure how fast that is.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, hangGuard)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPostgresRestart takes the database away under a load of creates and
// brings it back: meanwhile /readyz says 503, requests that need the
// database fail at once with 503 unavailable (never hang, never 500), and
// the server recovers by itself. Every create it acknowledged is there.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	env, proxy := postgresEnv(t)
	srv := startServer(t, env)

	// A load of creates, each acknowledged (201) or refused (503), never
	// anything else.
	ctx, stop := context.WithCancel(context.Background())
	var (
		mu       sync.Mutex
		acked    []string
		refused  atomic.Int64
		wg       sync.WaitGroup
		unwanted = make(chan string, 1)
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				code, pc := status(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": id})
				switch {
				case code == http.StatusCreated:
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				case code == http.StatusServiceUnavailable && pc == "unavailable":
					refused.Add(1)
				default:
					select {
					case unwanted <- fmt.Sprintf("create %s: %d %s", id, code, pc):
					default:
					}
				}
			}
		})
	}
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	eventually(t, "creates under load", func() bool { return ackedCount() >= 20 })

	proxy.Down()
	eventually(t, "/readyz 503 with the database down", func() bool {
		code, pc := status(t, "GET", srv.url+"/readyz", "", nil)
		return code == http.StatusServiceUnavailable && pc == "not_ready"
	})
	before := refused.Load()
	eventually(t, "creates refused with 503 while down", func() bool { return refused.Load() >= before+20 })

	proxy.Up(t)
	eventually(t, "/readyz 200 after the database came back", func() bool {
		code, _ := status(t, "GET", srv.url+"/readyz", "", nil)
		return code == http.StatusOK
	})
	after := ackedCount()
	eventually(t, "creates after the database came back", func() bool { return ackedCount() >= after+20 })
	stop()
	wg.Wait()
	select {
	case u := <-unwanted:
		t.Errorf("an answer other than 201 or 503 unavailable: %s", u)
	default:
	}

	var list struct{ Total int }
	call(t, "GET", srv.url+"/v1/users?limit=1", e2eAdminKey, nil, 200, &list)
	// A create whose commit reached the server just before the connection
	// dropped is in the database though its client got a 503: no client
	// can tell a lost commit from a lost answer. None may be missing.
	if list.Total < len(acked) || int64(list.Total) > int64(len(acked))+refused.Load() {
		t.Errorf("%d users in the database, %d creates acknowledged, %d refused", list.Total, len(acked), refused.Load())
	}
	for _, id := range acked {
		if code, _ := status(t, "GET", srv.url+"/v1/users/"+id, e2eAdminKey, nil); code != http.StatusOK {
			t.Errorf("acknowledged user %s: GET = %d", id, code)
		}
	}
	t.Logf("%d creates acknowledged, %d refused with 503 while the database was down", len(acked), refused.Load())
}

// TestPostgresHangs freezes the path to the database without closing it,
// as a hung server or a broken network does: requests that need the
// database fail with 503 unavailable once --db-timeout has passed, rather
// than waiting for the kernel's TCP timeout, and the server recovers when
// the path thaws.
func TestPostgresHangs(t *testing.T) {
	t.Parallel()
	env, proxy := postgresEnv(t)
	env["AUTHSVC_DB_TIMEOUT"] = "1s"
	srv := startServer(t, env)
	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "before"}, 201, nil)

	proxy.Freeze()
	for i := range 3 {
		if code, pc := status(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": fmt.Sprintf("frozen%d", i)}); code != http.StatusServiceUnavailable || pc != "unavailable" {
			t.Errorf("create %d with the database frozen = %d %s, want 503 unavailable", i, code, pc)
		}
	}
	eventually(t, "/readyz 503 with the database frozen", func() bool {
		code, _ := status(t, "GET", srv.url+"/readyz", "", nil)
		return code == http.StatusServiceUnavailable
	})
	proxy.Thaw()
	eventually(t, "creates after the database thawed", func() bool {
		code, _ := status(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "after"})
		return code == http.StatusCreated || code == http.StatusConflict
	})
	if code, _ := status(t, "GET", srv.url+"/v1/users/before", e2eAdminKey, nil); code != http.StatusOK {
		t.Errorf("GET before = %d after the thaw", code)
	}
}
