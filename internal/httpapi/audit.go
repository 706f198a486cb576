package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"authsvc/internal/audit"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

// record adds an event to the audit trail, filling in who asked, from where
// and in which request. It never waits for the write.
func (s *Server) record(r *http.Request, e audit.Event) {
	if s.audit == nil {
		return
	}
	s.audit.Record(s.fill(r, e))
}

// tally adds an event a client can repeat at will (a failed login, a
// refused request) to the audit trail: repeats within a window share one
// row with a count, so a flood cannot grow the trail without bound.
// tally counts a failure a client can repeat; registered says e.UserID is
// a registered user's, or the caller an authenticated, rate-limited one.
func (s *Server) tally(r *http.Request, e audit.Event, registered bool) {
	if s.audit == nil {
		return
	}
	s.audit.Tally(s.fill(r, e), registered)
}

func (s *Server) fill(r *http.Request, e audit.Event) audit.Event {
	ctx := r.Context()
	if p := principalFrom(ctx); p != nil {
		e.Actor = p.actor()
	}
	e.Time = s.now()
	e.ClientIP = clientIPText(ctx)
	e.RequestID = requestID(ctx)
	return e
}

// fingerprintPrefix starts the userID of an event about an attempted
// userID that is no user's.
const fingerprintPrefix = "unknown:"

// attemptedUser is what the audit trail shows for a valid userID a client
// tried: the userID when it is a registered user's, else a keyed
// fingerprint of it, so that a password typed into the userID field never
// reaches the trail, while repeats of one mistyped ID still look alike.
func (s *Server) attemptedUser(ctx context.Context, id string) (string, bool) {
	if _, err := s.store.Get(ctx, id); err == nil {
		return id, true
	}
	return fingerprint(s.creds.Load().SessionKey, id), false
}

// fingerprint is "unknown:" and 96 bits of HMAC-SHA-256 of id, under a key
// derived from the session key: rotating the session key changes every
// fingerprint.
func fingerprint(sessionKey []byte, id string) string {
	k := hmac.New(sha256.New, sessionKey)
	k.Write([]byte("authsvc audit fingerprint"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(id))
	return fingerprintPrefix + hex.EncodeToString(m.Sum(nil)[:12])
}

// validID reports whether id follows the ZIM rule, and may therefore be a
// rate limiter's key or looked up.
func validID(id string) bool { return users.ValidateID(id) == nil }

// tokenEvent describes a minted token, without the token itself.
func tokenEvent(event string, c token.Claims) audit.Event {
	nonce := c.Nonce
	return audit.Event{Kind: event, AppID: c.AppID, UserID: c.UserID, Expire: c.ExpiresAt, Nonce: &nonce}
}

// failureReason is the bounded reason a request failed for, for the audit
// trail and metrics.
func failureReason(err error) string {
	p, ok := toProblem(err)
	switch {
	case !ok:
		return codeInternal
	case p.Reason != "":
		return p.Reason
	}
	return p.Code
}

type auditEvent struct {
	ID        int64  `json:"id"`
	Time      string `json:"time"`
	Event     string `json:"event"`
	AppID     uint32 `json:"appID,omitempty"`
	UserID    string `json:"userID,omitempty"`
	Actor     string `json:"actor"`
	ClientIP  string `json:"clientIP,omitempty"`
	RequestID string `json:"requestID,omitempty"`
	Expire    int64  `json:"expire,omitempty"`
	Nonce     *int32 `json:"nonce,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Count     int64  `json:"count"`
}

type auditPage struct {
	Events []auditEvent `json:"events"`
	Next   string       `json:"next"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	q := audit.Query{UserID: v.Get("userID"), Event: v.Get("event")}
	var err error
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if text := v.Get(t.name); text != "" {
			if *t.dst, err = time.Parse(time.RFC3339, text); err != nil {
				return invalidField(t.name, codeInvalidRequest, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", t.name)
			}
		}
	}
	if text := v.Get("limit"); text != "" {
		if q.Limit, err = strconv.Atoi(text); err != nil || q.Limit < 1 {
			return invalidField("limit", codeInvalidLimit, "limit must be a whole number from 1 to %d", audit.MaxListLimit)
		}
	}
	if text := v.Get("after"); text != "" {
		if q.After, err = strconv.ParseInt(text, 10, 64); err != nil || q.After < 1 {
			return invalidField("after", codeInvalidAfter, "after must be the next cursor of a previous page")
		}
	}
	if err := s.flushAudit(r); err != nil {
		return err
	}
	page, err := s.events.List(r.Context(), q)
	if err != nil {
		return err
	}
	out := auditPage{Events: make([]auditEvent, len(page.Events))}
	if page.Next > 0 {
		out.Next = strconv.FormatInt(page.Next, 10)
	}
	for i, e := range page.Events {
		out.Events[i] = auditEvent{
			ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), Event: e.Kind, AppID: e.AppID, UserID: e.UserID,
			Actor: e.Actor, ClientIP: e.ClientIP, RequestID: e.RequestID, Expire: e.Expire, Nonce: e.Nonce, Reason: e.Reason,
			Count: e.Count,
		}
	}
	return encode(w, http.StatusOK, out)
}

// auditFlushWait bounds how long GET /v1/audit waits for the events queued
// before it to be written, so that an admin sees their own change at once.
const auditFlushWait = 2 * time.Second

// flushAudit writes the queued events out before a listing. A writer that
// takes longer does not fail the listing: it shows what is written.
func (s *Server) flushAudit(r *http.Request) error {
	if s.audit == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), auditFlushWait)
	defer cancel()
	err := s.audit.Flush(ctx)
	switch {
	case err == nil:
		return nil
	case r.Context().Err() != nil:
		return r.Context().Err()
	case errors.Is(err, context.DeadlineExceeded):
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "audit: listing without the events still queued",
			slog.String("request_id", requestID(r.Context())), slog.Duration("waited", auditFlushWait))
		return nil
	}
	return err
}
