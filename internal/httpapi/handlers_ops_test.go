package httpapi

import (
	"authsvc/internal/sqldb/sqldbtest"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestHeadProbes: probes that send HEAD get the status of GET, no body.
func TestHeadProbes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := e.do("HEAD", path, "", nil).want(t, http.StatusOK)
		if len(r.body) != 0 {
			t.Errorf("HEAD %s body = %q, want none", path, r.body)
		}
	}
}

// TestReadyzFollowsTheFile changes the database file under a running server:
// /readyz turns 503 not_ready, with a detail naming the cause, once the
// cached probe is stale, and 200 again when the file is writable again.
func TestReadyzFollowsTheFile(t *testing.T) {
	t.Parallel()
	sqldbtest.SQLiteOnly(t)
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		detail string
		undo   func(t *testing.T, path string) // nil: no way back
	}{
		{"read-only", func(t *testing.T, path string) { chmod(t, path, 0o444) }, "read-only",
			func(t *testing.T, path string) { chmod(t, path, 0o600) }},
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "deleted or replaced", nil},
		{"replaced", func(t *testing.T, path string) {
			other := path + ".new"
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, "deleted or replaced", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.do("GET", "/readyz", "", nil).want(t, http.StatusOK)
			tt.change(t, e.dbPath)
			e.clock.Advance(readyFor)
			for _, method := range []string{"GET", "HEAD"} {
				r := e.do(method, "/readyz", "", nil).want(t, http.StatusServiceUnavailable)
				if method == "GET" {
					if p := r.problem(t, http.StatusServiceUnavailable, codeNotReady); !strings.Contains(p.Detail, tt.detail) {
						t.Errorf("detail = %q, want it to say %q", p.Detail, tt.detail)
					}
				}
			}
			e.do("GET", "/healthz", "", nil).want(t, http.StatusOK) // alive all the same
			if tt.undo != nil {
				tt.undo(t, e.dbPath)
				e.clock.Advance(readyFor)
				e.do("GET", "/readyz", "", nil).want(t, http.StatusOK)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestReadyzProbesAtMostOncePerPeriod: the probe writes, so a burst of
// /readyz within readyFor costs one write, and the next period one more.
func TestReadyzProbesAtMostOncePerPeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	probes := func() int {
		var n int
		if err := e.db.Reader.QueryRow(`SELECT probes FROM readiness`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if got := e.send("GET", "/readyz", "", ""); got != http.StatusOK {
					t.Errorf("GET /readyz = %d", got)
				}
			}
		})
	}
	wg.Wait()
	if got := probes(); got != 1 {
		t.Errorf("200 requests in one period wrote %d probes, want 1", got)
	}
	e.clock.Advance(readyFor)
	e.do("GET", "/readyz", "", nil).want(t, http.StatusOK)
	e.do("GET", "/readyz", "", nil).want(t, http.StatusOK)
	if got := probes(); got != 2 {
		t.Errorf("after the next period: %d probes, want 2", got)
	}
}
