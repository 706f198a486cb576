package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"authsvc/internal/sqldb"
)

// TestBackupUnderLoad backs up the database of a running server while
// clients keep creating users: the copy passes integrity_check and holds
// every user whose creation was acknowledged before the backup started.
func TestBackupUnderLoad(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	srv := startServer(t, env)

	var (
		mu     sync.Mutex
		acked  []string
		failed error
	)
	enough := make(chan struct{})
	var enoughOnce sync.Once
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			client := &http.Client{}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, n)
				req, _ := http.NewRequest("POST", srv.url+"/v1/users", strings.NewReader(`{"userID":"`+id+`"}`))
				req.Header.Set("Authorization", "Bearer "+e2eAdminKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("create %s: %s", id, resp.Status)
					}
				}
				mu.Lock()
				if err != nil {
					failed = err
				} else {
					acked = append(acked, id)
				}
				if len(acked) >= 50 || failed != nil {
					enoughOnce.Do(func() { close(enough) })
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	<-enough
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	// Listing the trail writes what is queued: the creations of before.
	req, _ := http.NewRequest("GET", srv.url+"/v1/audit?event=user.created&limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+e2eAdminKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/audit: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}

	dst := filepath.Join(t.TempDir(), "backup.db")
	c := &cli{t: t, env: env}
	out := c.ok("", "backup", "--to", dst)
	close(stop)
	wg.Wait()
	if failed != nil {
		t.Fatalf("a writer failed: %v", failed)
	}
	if !strings.Contains(out, "backed up") || !strings.Contains(out, dst) ||
		!strings.Contains(out, "backed up its audit trail to "+sqldb.AuditPath(dst)) {
		t.Errorf("backup printed %q", out)
	}

	db, err := sqldb.OpenWith(context.Background(), dst, sqldb.Options{MustExist: true, NoMigrate: true})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer db.Close()
	var check string
	if err := db.Reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check of the backup = %q, %v", check, err)
	}
	have := map[string]bool{}
	rows, err := db.Reader.Query(`SELECT id FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, id := range before {
		if !have[id] {
			t.Errorf("user %s, acknowledged before the backup, is not in it", id)
		}
	}
	t.Logf("%d users acknowledged before the backup, %d in it, %d by the end", len(before), len(have), len(acked))
	for _, f := range []string{dst, sqldb.AuditPath(dst)} {
		if fi, err := os.Stat(f); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("backup file %s has mode %v, want 0600", filepath.Base(f), fi.Mode())
		}
	}

	// The trail's copy holds the creations written before the backup, and,
	// taken first, no creation of a user the database's copy lacks.
	trail := db.Audit()
	if err := trail.Reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check of the trail's backup = %q, %v", check, err)
	}
	rows, err = trail.Reader.Query(`SELECT user_id FROM audit_events WHERE event = 'user.created'`)
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if created[id] = true; !have[id] {
			t.Errorf("the trail's backup saw %s created, the database's backup has no such user", id)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, id := range before {
		if !created[id] {
			t.Errorf("the creation of %s, written before the backup, is not in the trail's backup", id)
		}
	}
	t.Logf("%d creations in the trail's backup", len(created))

	// An existing file is replaced only with --force.
	if msg := c.fails(1, "backup", "--to", dst); !strings.Contains(msg, "exists; pass --force") {
		t.Errorf("backup onto an existing file: %q", msg)
	}
	c.ok("", "backup", "--to", dst, "--force")
	if msg := c.fails(2, "backup"); !strings.Contains(msg, "--to FILE is required\nrun 'authsvc backup -h'") {
		t.Errorf("backup without --to: %q", msg)
	}
	c.fails(2, "backup", "extra", "--to", dst+"2")
	missing := filepath.Join(t.TempDir(), "none.db")
	if msg := c.fails(1, "backup", "--db", missing, "--to", dst+"3"); !strings.Contains(msg, missing+" does not exist (from --db)") {
		t.Errorf("backup of a missing database: %q", msg)
	}
}
