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

	dst := filepath.Join(t.TempDir(), "backup.db")
	c := &cli{t: t, env: env}
	out := c.ok("", "backup", "--to", dst)
	close(stop)
	wg.Wait()
	if failed != nil {
		t.Fatalf("a writer failed: %v", failed)
	}
	if !strings.Contains(out, "backed up") || !strings.Contains(out, dst) {
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
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v; want mode 0600", fi.Mode(), err)
	}

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
