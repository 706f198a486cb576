package httpapi

import (
	"context"
	"testing"

	"authsvc/api"
	"authsvc/internal/audit"
	"authsvc/internal/users"
)

// TestPatchAuditsWhatTheWriteChanged: user.disabled and user.enabled follow
// the row the update changed, not the server's cached copy of it, which can
// lag behind another process's write (the CLI's) for the cache's lifetime.
func TestPatchAuditsWhatTheWriteChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser("frank")
	e.do("GET", "/v1/users/frank", testAdminKey, nil).want(t, 200) // cached, enabled
	cli, err := users.NewStore(e.db, users.Options{Hash: testHash})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.SetDisabled(context.Background(), "frank", true); err != nil {
		t.Fatal(err)
	}
	var u api.User
	e.do("PATCH", "/v1/users/frank", testAdminKey, map[string]any{"disabled": true}).want(t, 200).decode(t, &u)
	if !u.Disabled {
		t.Errorf("PATCH disabled=true answered %+v", u)
	}
	e.do("PATCH", "/v1/users/frank", testAdminKey, map[string]any{"disabled": false}).want(t, 200)
	if err := e.audit.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var page auditPage
	e.do("GET", "/v1/audit?userID=frank", testAdminKey, nil).want(t, 200).decode(t, &page)
	count := map[string]int{}
	for _, ev := range page.Events {
		count[ev.Event]++
	}
	if count[audit.UserDisabled] != 0 || count[audit.UserEnabled] != 1 {
		t.Errorf("events %v; want no %s (another process had disabled frank already) and one %s",
			count, audit.UserDisabled, audit.UserEnabled)
	}
}
