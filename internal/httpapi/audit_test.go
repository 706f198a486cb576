package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"authsvc/api"
	"authsvc/internal/audit"
)

// TestAuditTrail drives every audited action and checks each event's
// fields, and that none holds a credential.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	session := e.userWithSession("alice")
	var tok, renewed api.TokenResponse
	e.do("POST", "/v1/token", session, nil).want(t, 200).decode(t, &tok)
	e.do("POST", "/v1/token/renew", session, map[string]any{"token": tok.Token}).want(t, 200).decode(t, &renewed)
	e.do("POST", "/v1/token/renew", session, map[string]any{"token": "garbage"}).want(t, 400)
	for range 3 { // tallied: one event, count 3
		e.do("POST", "/v1/token/verify", testAdminKey, map[string]any{"token": tok.Token, "userID": "bob"}).want(t, 200)
	}
	e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": "wrong password"}).want(t, 401)
	e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"userName": "Alice", "password": "new password 2"}).want(t, 200)
	e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"disabled": true}).want(t, 200)
	e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"disabled": false}).want(t, 200)
	e.do("POST", "/v1/users/import", testAdminKey, map[string]any{"users": []map[string]any{{"userID": "imp"}}}).want(t, 200)
	e.do("DELETE", "/v1/users/imp", testAdminKey, nil).want(t, 204)
	if err := e.audit.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	var page auditPage
	e.do("GET", "/v1/audit?limit=1000", testAdminKey, nil).want(t, 200).decode(t, &page)
	byEvent := map[string][]auditEvent{}
	for _, ev := range page.Events {
		byEvent[ev.Event] = append(byEvent[ev.Event], ev)
	}
	admin := NewAdminKey([]byte(testAdminKey)).Label
	one := func(event string) auditEvent {
		t.Helper()
		if n := len(byEvent[event]); n != 1 {
			t.Fatalf("%d %s events, want 1: %+v", n, event, page.Events)
		}
		ev := byEvent[event][0]
		if ev.ClientIP != "127.0.0.1" || ev.RequestID == "" || ev.Time == "" {
			t.Errorf("%s lacks client IP, request ID or time: %+v", event, ev)
		}
		return ev
	}
	if ev := one(audit.TokenIssued); ev.UserID != "alice" || ev.AppID != testAppID || ev.Actor != "user:alice" ||
		ev.Expire != tok.ExpiresAt || ev.Nonce == nil {
		t.Errorf("token.issued = %+v", ev)
	}
	if ev := one(audit.TokenRenewed); ev.UserID != "alice" || ev.Expire != renewed.ExpiresAt || ev.Nonce == nil {
		t.Errorf("token.renewed = %+v", ev)
	}
	if ev := one(audit.TokenRenewFailed); ev.Reason != "malformed" || ev.Actor != "user:alice" {
		t.Errorf("token.renew_failed = %+v", ev)
	}
	if ev := one(audit.TokenVerifyFailed); ev.Reason != "user_mismatch" || ev.UserID != "alice" || ev.Actor != admin || ev.Count != 3 {
		t.Errorf("token.verify_failed = %+v", ev)
	}
	if ev := one(audit.SessionFailed); ev.UserID != "alice" || ev.Reason != codeInvalidCredentials {
		t.Errorf("session.failed = %+v", ev)
	}
	if ev := one(audit.UserUpdated); ev.UserID != "alice" || ev.Actor != admin || ev.Reason != "userName,password" {
		t.Errorf("user.updated = %+v", ev)
	}
	one(audit.UserDisabled)
	one(audit.UserEnabled)
	if ev := one(audit.UserImported); ev.UserID != "imp" {
		t.Errorf("user.imported = %+v", ev)
	}
	one(audit.UserDeleted)
	if n := len(byEvent[audit.UserCreated]); n != 1 {
		t.Errorf("%d user.created events, want 1 (alice)", n)
	}
	for _, secret := range []string{tok.Token, renewed.Token, session, testAdminKey, testPassword, "new password 2", "wrong password", testSecret} {
		if strings.Contains(string(mustJSON(t, page)), secret) {
			t.Errorf("the audit trail holds a secret (%.12s...)", secret)
		}
	}

	// Filters and pagination, newest first.
	var only auditPage
	e.do("GET", "/v1/audit?event=token.issued&userID=alice", testAdminKey, nil).want(t, 200).decode(t, &only)
	if len(only.Events) != 1 || only.Events[0].Event != audit.TokenIssued {
		t.Errorf("filtered = %+v", only.Events)
	}
	var seen []int64
	after := ""
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatal("pagination does not end")
		}
		var p auditPage
		e.do("GET", "/v1/audit?limit=3&after="+after, testAdminKey, nil).want(t, 200).decode(t, &p)
		for _, ev := range p.Events {
			seen = append(seen, ev.ID)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if len(seen) != len(page.Events) {
		t.Errorf("paged through %d events, want %d", len(seen), len(page.Events))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first: %v", seen)
		}
	}
	future := e.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	var none auditPage
	e.do("GET", "/v1/audit?since="+future, testAdminKey, nil).want(t, 200).decode(t, &none)
	if len(none.Events) != 0 {
		t.Errorf("since in the future returned %d events", len(none.Events))
	}
	for _, bad := range []struct{ query, code string }{
		{"limit=0", "invalid_limit"},
		{"limit=1001", "invalid_limit"},
		{"after=x", "invalid_after"},
		{"since=yesterday", codeInvalidRequest},
		{"event=no.such", codeInvalidRequest},
	} {
		e.do("GET", "/v1/audit?"+bad.query, testAdminKey, nil).problem(t, http.StatusBadRequest, bad.code)
	}
}
