package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"authsvc/internal/audit"
	"authsvc/internal/token"
)

// record adds an event to the audit trail, filling in who asked, from where
// and in which request. It never waits for the write.
func (s *Server) record(r *http.Request, e audit.Event) {
	if s.audit == nil {
		return
	}
	ctx := r.Context()
	if p := principalFrom(ctx); p != nil {
		e.Actor = p.actor()
	}
	e.Time = s.now()
	e.ClientIP = clientIP(ctx).String()
	e.RequestID = requestID(ctx)
	s.audit.Record(e)
}

// tokenEvent describes a minted token, without the token itself.
func tokenEvent(event string, c token.Claims) audit.Event {
	nonce := c.Nonce
	return audit.Event{Event: event, AppID: c.AppID, UserID: c.UserID, Expire: c.ExpiresAt, Nonce: &nonce}
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
			return invalidField("limit", "invalid_limit", "limit must be a whole number from 1 to %d", audit.MaxListLimit)
		}
	}
	if text := v.Get("after"); text != "" {
		if q.After, err = strconv.ParseInt(text, 10, 64); err != nil || q.After < 1 {
			return invalidField("after", "invalid_after", "after must be the next cursor of a previous page")
		}
	}
	page, err := audit.List(r.Context(), s.db, q)
	if err != nil {
		return err
	}
	out := auditPage{Events: make([]auditEvent, len(page.Events))}
	if page.Next > 0 {
		out.Next = strconv.FormatInt(page.Next, 10)
	}
	for i, e := range page.Events {
		out.Events[i] = auditEvent{
			ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), Event: e.Event, AppID: e.AppID, UserID: e.UserID,
			Actor: e.Actor, ClientIP: e.ClientIP, RequestID: e.RequestID, Expire: e.Expire, Nonce: e.Nonce, Reason: e.Reason,
		}
	}
	return encode(w, http.StatusOK, out)
}
