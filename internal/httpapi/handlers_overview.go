package httpapi

import (
	"net/http"
	"time"
)

type overviewTTL struct {
	Default int64 `json:"default"`
	Min     int64 `json:"min"`
	Max     int64 `json:"max"`
}

type overviewApp struct {
	AppID   uint32      `json:"appID"`
	Default bool        `json:"default"`
	Variant string      `json:"variant"`
	TTL     overviewTTL `json:"ttl"`
	// PreviousSecrets counts the secrets kept for a rotation; the secrets
	// themselves, their hashes and prefixes never leave the server.
	PreviousSecrets int `json:"previousSecrets"`
}

type overviewResponse struct {
	Version string        `json:"version"`
	Users   int64         `json:"users"`
	Apps    []overviewApp `json:"apps"`
}

// overview describes the running service for the admin console: the build,
// the number of users and the configured apps, from the credentials of the
// latest reload.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	n, err := s.store.Count(r.Context())
	if err != nil {
		return err
	}
	creds := s.creds.Load()
	resp := overviewResponse{Version: s.cfg.Version, Users: n, Apps: make([]overviewApp, len(creds.Apps))}
	for i, a := range creds.Apps {
		resp.Apps[i] = overviewApp{
			AppID:   a.ID,
			Default: a.ID == creds.DefaultApp,
			Variant: a.Variant.String(),
			TTL: overviewTTL{
				Default: int64(a.TTL.Default / time.Second),
				Min:     int64(a.TTL.Min / time.Second),
				Max:     int64(a.TTL.Max / time.Second),
			},
			PreviousSecrets: len(a.Keys) - 1,
		}
	}
	return encode(w, http.StatusOK, resp)
}
