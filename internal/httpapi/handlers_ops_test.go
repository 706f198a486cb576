package httpapi

import (
	"net/http"
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
