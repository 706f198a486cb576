package httpapi

import (
	"context"
	"net/http"
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

// readyz says whether the server can do its job: the store answers and an
// app secret is configured.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return newProblem(http.StatusServiceUnavailable, codeNotReady, "the user store is not reachable")
	}
	creds := s.creds.Load()
	if len(creds.Apps) == 0 || len(creds.Apps[0].Keys) == 0 {
		return newProblem(http.StatusServiceUnavailable, codeNotReady, "no app secret is configured")
	}
	return encode(w, http.StatusOK, statusResponse{Status: "ready"})
}
