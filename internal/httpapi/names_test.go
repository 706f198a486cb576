package httpapi

import (
	"net/http"
	"testing"

	"authsvc/api"
)

// TestUserNameSpoofing: names that would display as another name are
// refused on create, import and update; an emoji ZWJ sequence is kept.
func TestUserNameSpoofing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"evil\u202egnp.exe", "ad\u200bmin", "\ufeffAlice", "Bob\u2066", "ad\u200dmin"} {
		body := map[string]any{"userID": "spoof", "userName": name}
		p := e.do("POST", "/v1/users", testAdminKey, body).problem(t, http.StatusBadRequest, "invalid_user_name")
		if len(p.Errors) != 1 || p.Errors[0].Field != "userName" {
			t.Errorf("userName %q: errors = %+v", name, p.Errors)
		}
		var imp api.ImportResponse
		e.do("POST", "/v1/users/import", testAdminKey, map[string]any{"users": []any{body}}).want(t, http.StatusOK).decode(t, &imp)
		if len(imp.Results) != 1 || imp.Results[0].Status != "invalid" || imp.Results[0].Error.Code != "invalid_user_name" {
			t.Errorf("import userName %q: results = %+v", name, imp.Results)
		}
	}
	e.wantNoUsers("spoofing names created users")

	var u api.User
	e.do("POST", "/v1/users", testAdminKey, map[string]any{"userID": "dev", "userName": "Dev 👩🏽\u200d💻"}).
		want(t, http.StatusCreated).decode(t, &u)
	if u.UserName != "Dev 👩🏽\u200d💻" {
		t.Errorf("userName = %q, want the emoji sequence kept", u.UserName)
	}
	e.do("PATCH", "/v1/users/dev", testAdminKey, map[string]any{"userName": "dev\u202e"}).problem(t, http.StatusBadRequest, "invalid_user_name")
}
