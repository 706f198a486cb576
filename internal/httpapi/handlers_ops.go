package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
)

type statusResponse struct {
	Status string `json:"status"`
}

// healthz says the process is alive; it touches nothing else, so a slow
// database never gets a healthy process restarted.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return encode(w, http.StatusOK, statusResponse{Status: "ok"})
}

// readyz says whether the server can do its job: the store takes writes and
// an app secret is configured.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if err := s.ready.check(r.Context(), s.readyFn, s.now()); err != nil {
		detail := "the user store cannot be written"
		var d interface{ NotReadyDetail() string }
		if errors.As(err, &d) {
			detail = d.NotReadyDetail()
		}
		return newProblem(http.StatusServiceUnavailable, codeNotReady, "%s", detail)
	}
	creds := s.creds.Load()
	if len(creds.Apps) == 0 || len(creds.Apps[0].Keys) == 0 {
		return newProblem(http.StatusServiceUnavailable, codeNotReady, "no app secret is configured")
	}
	return encode(w, http.StatusOK, statusResponse{Status: "ready"})
}

// readyFor is how long a readiness probe's result is reused. The probe
// writes, so a flood of /readyz becomes at most one write per this period.
const readyFor = time.Second

// readiness caches the store's readiness probe. One probe runs at a time;
// requests arriving meanwhile wait for it and share its result.
type readiness struct {
	mu  sync.Mutex
	at  time.Time // when err was found; zero before the first probe
	err error
}

func (c *readiness) check(ctx context.Context, ready func(context.Context) error, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && !now.Before(c.at) && now.Sub(c.at) < readyFor {
		return c.err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := ready(pctx)
	if ctx.Err() != nil {
		return err // this caller went away: its cut-short probe says nothing about the store
	}
	c.at, c.err = now, err
	return err
}
