package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authsvc/internal/audit"
	"authsvc/internal/sqldb/sqldbtest"
)

// TestAuditSurvivesShutdownUnderLoad: clients keep getting tokens while the
// server is told to stop; every token a client received has its event in
// the audit trail after run returns.
func TestAuditSurvivesShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	env["AUTHSVC_RATE_TOKEN"] = "off"
	srv := startServer(t, env)
	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "loaded"}, 201, nil)

	// The server stops once the clients have had this many tokens, so it
	// stops under load however fast or slow the machine is.
	const beforeStop = 200
	var issued atomic.Int64
	busy := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"userID": "loaded"})
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", srv.url+"/v1/token", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+e2eAdminKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					continue // the server is going away
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && issued.Add(1) == beforeStop {
					close(busy) // Add returns beforeStop once
				}
			}
		}()
	}
	select {
	case <-busy:
	case <-time.After(hangGuardLong):
		t.Fatalf("%d of %d tokens issued after %v", issued.Load(), beforeStop, hangGuardLong)
	}
	if err := srv.stop(); err != nil { // shuts down while the clients are busy
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if issued.Load() < beforeStop {
		t.Fatalf("%d tokens issued, want at least %d", issued.Load(), beforeStop)
	}

	db := sqldbtest.OpenPath(t, env["AUTHSVC_DB"])
	events, err := audit.NewReader(db)
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	for after := int64(0); ; {
		page, err := events.List(context.Background(), audit.Query{Event: audit.TokenIssued, Limit: audit.MaxListLimit, After: after})
		if err != nil {
			t.Fatal(err)
		}
		written += int64(len(page.Events))
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	if written != issued.Load() {
		t.Errorf("%d tokens issued, %d token.issued events written", issued.Load(), written)
	}
}
