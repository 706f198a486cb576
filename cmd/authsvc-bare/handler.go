package main

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"authsvc/api"
	"authsvc/internal/token"
)

// minter mints the baseline's one kind of token.
type minter struct {
	key    *token.Key
	appID  uint32
	userID string
	ttl    int64 // seconds
	now    func() time.Time
	rand   io.Reader
}

func (m *minter) mint() (string, token.Claims, error) {
	return m.key.Mint(m.rand, m.now(), token.Params{AppID: m.appID, UserID: m.userID, EffectiveTime: m.ttl, Variant: token.GCM})
}

// newHandler serves what authsvc-load drives: GET /healthz and POST
// /v1/token, with authsvc's answers, built the way authsvc builds them
// (encoding/json over the api types), so the comparison is of the work
// around the mint and not of two encoders.
func newHandler(m *minter) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Status string `json:"status"`
		}{"ok"})
	})
	mux.HandleFunc("POST /v1/token", func(w http.ResponseWriter, r *http.Request) {
		tok, c, err := m.mint()
		if err != nil {
			// The parameters were checked at start; only crypto/rand can
			// fail here.
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.TokenResponse{
			Token:                  tok,
			AppID:                  c.AppID,
			UserID:                 c.UserID,
			UserName:               c.UserID, // a user's name defaults to its ID
			IssuedAt:               c.IssuedAt,
			ExpiresAt:              c.ExpiresAt,
			EffectiveTimeInSeconds: c.ExpiresAt - c.IssuedAt,
		})
	})
	return mux
}
