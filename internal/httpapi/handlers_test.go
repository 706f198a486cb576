package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/idp"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

func TestOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var st statusResponse
	e.do("GET", "/healthz", "", nil).want(t, http.StatusOK).decode(t, &st)
	if st.Status != "ok" {
		t.Errorf("healthz status = %q", st.Status)
	}
	e.do("GET", "/readyz", "", nil).want(t, http.StatusOK).decode(t, &st)
	if st.Status != "ready" {
		t.Errorf("readyz status = %q", st.Status)
	}
	spec := e.do("GET", "/openapi.yaml", "", nil).want(t, http.StatusOK)
	if !strings.HasPrefix(string(spec.body), "openapi: 3") {
		t.Errorf("GET /openapi.yaml did not serve the spec: %.40q", spec.body)
	}
	e.do("GET", "/no/such/route", "", nil).problem(t, http.StatusNotFound, codeNotFound)
	e.do("PUT", "/v1/token", testAdminKey, nil).problem(t, http.StatusMethodNotAllowed, codeMethodNotAllowed)

	// Readiness follows the store, once the cached probe is stale.
	e.db.Close()
	e.clock.Advance(readyFor)
	e.do("GET", "/readyz", "", nil).problem(t, http.StatusServiceUnavailable, codeNotReady)
	e.do("GET", "/healthz", "", nil).want(t, http.StatusOK)
}

func TestMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	session := e.userWithSession("alice")
	e.do("POST", "/v1/token", session, nil).want(t, http.StatusOK)
	e.do("POST", "/v1/token", session, map[string]any{"effectiveTimeInSeconds": 5}).problem(t, http.StatusBadRequest, codeInvalidTTL)
	m := string(e.do("GET", "/metrics", testAdminKey, nil).want(t, http.StatusOK).body)
	for _, want := range []string{
		fmt.Sprintf(`authsvc_tokens_issued_total{app_id="%d",kind="issue",variant="gcm"} 1`, testAppID),
		`authsvc_token_failures_total{reason="invalid_ttl"} 1`,
		`authsvc_http_requests_total{method="POST",route="/v1/token",status="200"} 1`,
		`authsvc_http_request_duration_seconds_count{method="POST",route="/v1/token",status="400"} 1`,
		`authsvc_users 1`,
		`authsvc_build_info{goversion=`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, testSecret) || strings.Contains(m, testAdminKey) {
		t.Error("metrics expose a secret")
	}
}

func TestMetricsOnOwnListener(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.cfg.ServeMetrics = false })
	e.do("GET", "/metrics", "", nil).problem(t, http.StatusNotFound, codeNotFound)
}

// TestAuthorizationMatrix sends every route every kind of credential.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.userWithSession("alice")
	bob := e.userWithSession("bob")
	disabled := e.userWithSession("dora")
	e.do("PATCH", "/v1/users/dora", testAdminKey, map[string]any{"disabled": true}).want(t, http.StatusOK)

	var tok api.TokenResponse
	e.do("POST", "/v1/token", alice, nil).want(t, http.StatusOK).decode(t, &tok)

	creds := map[string]string{
		"none":     "",
		"wrong":    "not-a-credential",
		"user":     alice,
		"other":    bob,
		"disabled": disabled,
		"admin":    testAdminKey,
	}
	// Each row: a request acting on alice's things, and the status each
	// credential gets. "other" is bob, acting on alice's things.
	tests := []struct {
		method, path string
		body         any
		want         map[string]int
	}{
		{"POST", "/v1/token", map[string]any{"userID": "alice"}, map[string]int{"user": 200, "other": 403, "admin": 200}},
		{"POST", "/v1/token/renew", map[string]any{"token": tok.Token}, map[string]int{"user": 200, "other": 403, "admin": 200}},
		{"POST", "/v1/token/verify", map[string]any{"token": tok.Token}, map[string]int{"user": 403, "other": 403, "admin": 200}},
		{"POST", "/v1/users", map[string]any{}, map[string]int{"user": 403, "other": 403, "admin": 201}},
		{"GET", "/v1/users", nil, map[string]int{"user": 403, "other": 403, "admin": 200}},
		{"POST", "/v1/users/import", map[string]any{"users": []any{}}, map[string]int{"user": 403, "other": 403, "admin": 200}},
		{"GET", "/v1/users/alice", nil, map[string]int{"user": 200, "other": 403, "admin": 200}},
		{"PATCH", "/v1/users/alice", map[string]any{"extendedData": "x"}, map[string]int{"user": 200, "other": 403, "admin": 200}},
		{"DELETE", "/v1/users/carol", nil, map[string]int{"user": 403, "other": 403, "admin": 204}},
	}
	e.createUser("carol")
	for _, tt := range tests {
		for _, who := range []string{"none", "wrong", "disabled", "user", "other", "admin"} {
			want, ok := tt.want[who]
			if !ok {
				want = http.StatusUnauthorized // none, wrong and disabled: nobody we know
			}
			resp := e.do(tt.method, tt.path, creds[who], tt.body)
			if resp.status != want {
				t.Errorf("%s %s as %s: status %d (%s), want %d", tt.method, tt.path, who, resp.status, resp.body, want)
				continue
			}
			switch want {
			case 401:
				resp.problem(t, 401, codeUnauthorized)
				if got := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", got)
				}
			case 403:
				resp.problem(t, 403, codeForbidden)
			}
		}
	}
}

func TestBearerParsing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic " + testAdminKey, "bearer" + testAdminKey, testAdminKey} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/users", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", h, resp.StatusCode)
		}
	}
	// The scheme is case-insensitive (RFC 9110), and the second admin key
	// works too, though shaped like a JWT.
	if !idp.LooksLikeJWT(testAdminKey2) {
		t.Fatalf("%q does not look like a JWT: the test does not test what it means to", testAdminKey2)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/users", nil)
	req.Header.Set("Authorization", "bearer "+testAdminKey2)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("lower-case scheme with the second admin key: status %d, want 200", resp.StatusCode)
	}
}

func TestUsersCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var u api.User
	resp := e.do("POST", "/v1/users", testAdminKey, map[string]any{
		"userID": "alice", "userName": "Alice", "avatarURL": "https://cdn.example.com/a.png", "extendedData": `{"tier":1}`,
	}).want(t, http.StatusCreated)
	resp.decode(t, &u)
	if got := resp.header.Get("Location"); got != "/v1/users/alice" {
		t.Errorf("Location = %q", got)
	}
	if u.UserID != "alice" || u.UserName != "Alice" || u.AvatarURL != "https://cdn.example.com/a.png" || u.ExtendedData != `{"tier":1}` || u.Disabled {
		t.Errorf("created %+v", u)
	}
	if _, err := time.Parse(time.RFC3339, u.CreatedAt); err != nil {
		t.Errorf("createdAt %q is not RFC 3339", u.CreatedAt)
	}
	if strings.Contains(string(resp.body), "password") {
		t.Errorf("user response mentions a password: %s", resp.body)
	}

	e.do("POST", "/v1/users", testAdminKey, map[string]any{"userID": "alice"}).problem(t, http.StatusConflict, codeUserExists)

	// The service assigns IDs that need no escaping.
	var assigned api.User
	e.do("POST", "/v1/users", testAdminKey, map[string]any{}).want(t, http.StatusCreated).decode(t, &assigned)
	if assigned.UserID == "" || url.PathEscape(assigned.UserID) != assigned.UserID || users.ValidateID(assigned.UserID) != nil {
		t.Errorf("assigned userID %q", assigned.UserID)
	}
	if assigned.UserName != assigned.UserID {
		t.Errorf("userName %q does not default to the userID %q", assigned.UserName, assigned.UserID)
	}

	var got api.User
	e.do("GET", "/v1/users/alice", testAdminKey, nil).want(t, http.StatusOK).decode(t, &got)
	offline := false
	u.Online = &offline // GET adds the ZIM presence, offline for a user ZIM never reported
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("GET differs from POST (-post +get):\n%s", diff)
	}
	e.do("GET", "/v1/users/nobody", testAdminKey, nil).problem(t, http.StatusNotFound, codeUserNotFound)
	e.do("GET", "/v1/users/a%20b", testAdminKey, nil).problem(t, http.StatusBadRequest, codeInvalidUserID)

	e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"userName": "Alice B."}).want(t, http.StatusOK).decode(t, &got)
	if got.UserName != "Alice B." || got.AvatarURL != u.AvatarURL || got.ExtendedData != u.ExtendedData {
		t.Errorf("partial update changed more than the name: %+v", got)
	}
	e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"userName": ""}).want(t, http.StatusOK).decode(t, &got)
	if got.UserName != "alice" {
		t.Errorf("empty userName did not reset to the userID: %q", got.UserName)
	}
	e.do("PATCH", "/v1/users/nobody", testAdminKey, map[string]any{"userName": "x"}).problem(t, http.StatusNotFound, codeUserNotFound)

	e.do("DELETE", "/v1/users/alice", testAdminKey, nil).want(t, http.StatusNoContent)
	e.do("DELETE", "/v1/users/alice", testAdminKey, nil).problem(t, http.StatusNotFound, codeUserNotFound)
	e.do("GET", "/v1/users/alice", testAdminKey, nil).problem(t, http.StatusNotFound, codeUserNotFound)
}

func TestUserValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		body  map[string]any
		code  string
		field string
	}{
		{map[string]any{"userID": "has space"}, "invalid_user_id", "userID"},
		{map[string]any{"userID": strings.Repeat("a", 33)}, "invalid_user_id", "userID"},
		{map[string]any{"userID": "a*b"}, "invalid_user_id", "userID"},
		{map[string]any{"userName": strings.Repeat("n", 257)}, "invalid_user_name", "userName"},
		{map[string]any{"userName": "bell\a"}, "invalid_user_name", "userName"},
		{map[string]any{"password": "short"}, "invalid_password", "password"},
		{map[string]any{"avatarURL": "ftp://example.com/a.png"}, "invalid_avatar_url", "avatarURL"},
		{map[string]any{"extendedData": strings.Repeat("x", 4097)}, "invalid_extended_data", "extendedData"},
	}
	for _, tt := range tests {
		p := e.do("POST", "/v1/users", testAdminKey, tt.body).problem(t, http.StatusBadRequest, tt.code)
		if len(p.Errors) == 0 || p.Errors[0].Field != tt.field || p.Errors[0].Code != tt.code || p.Errors[0].Message == "" {
			t.Errorf("%v: errors = %+v", tt.body, p.Errors)
		}
		if strings.Contains(string(mustJSON(t, p)), "short") && tt.field == "password" {
			t.Errorf("problem repeats the password: %+v", p)
		}
	}
	// Several bad fields are all reported.
	p := e.do("POST", "/v1/users", testAdminKey, map[string]any{"userID": "a b", "password": "x"}).problem(t, http.StatusBadRequest, "invalid_user_id")
	if len(p.Errors) != 2 {
		t.Errorf("errors = %+v, want userID and password", p.Errors)
	}
	// Nothing was written.
	e.wantNoUsers("invalid requests created users")
}

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	send := func(body, contentType string) *response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/users", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := &response{status: resp.StatusCode, header: resp.Header}
		r.body = readAll(t, resp.Body)
		return r
	}
	tests := []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"malformed", `{"userID":`, "application/json", 400, codeInvalidRequest},
		{"syntax", `{"userID" "x"}`, "application/json", 400, codeInvalidRequest},
		{"unknown field", `{"nickname":"x"}`, "application/json", 400, codeInvalidRequest},
		{"wrong type", `{"userID":5}`, "application/json", 400, codeInvalidRequest},
		{"not an object", `[]`, "application/json", 400, codeInvalidRequest},
		{"trailing data", `{"userID":"x"} {}`, "application/json", 400, codeInvalidRequest},
		{"empty", ``, "application/json", 400, codeInvalidRequest},
		{"form", `userID=x`, "application/x-www-form-urlencoded", 415, codeUnsupportedMedia},
		{"too large", `{"extendedData":"` + strings.Repeat("x", maxBody) + `"}`, "application/json", 413, codePayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send(tt.body, tt.contentType).problem(t, tt.status, tt.code)
		})
	}
	p := send(`{"nickname":"x"}`, "").problem(t, 400, codeInvalidRequest)
	if len(p.Errors) != 1 || p.Errors[0].Field != "nickname" {
		t.Errorf("unknown field not named: %+v", p)
	}
	e.wantNoUsers("rejected requests created users")
}

// TestPercentEncodedUserIDs drives users whose IDs need escaping in a path
// through every per-user route.
func TestPercentEncodedUserIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ids := []string{"a%41", "%", "%25", "q?x=1", "h#frag", "[x]", "{y}", "p|q", "c^d", "<e>", "plus+sign", "semi;colon", "x.y", "..", "~tilde", "a&b=c"}
	for _, punct := range users.IDPunctuation {
		if !slices.Contains(ids, string(punct)) {
			ids = append(ids, string(punct))
		}
	}
	for _, id := range ids {
		e.createUser(id)
		session := e.login(id)
		path := "/v1/users/" + url.PathEscape(id)
		var u api.User
		e.do("GET", path, testAdminKey, nil).want(t, http.StatusOK).decode(t, &u)
		if u.UserID != id {
			t.Errorf("GET %s returned user %q, want %q", path, u.UserID, id)
		}
		e.do("GET", path, session, nil).want(t, http.StatusOK)
		e.do("PATCH", path, session, map[string]any{"extendedData": "self"}).want(t, http.StatusOK)
		e.do("PATCH", path, testAdminKey, map[string]any{"userName": "n"}).want(t, http.StatusOK)
		var tok api.TokenResponse
		e.do("POST", "/v1/token", session, nil).want(t, http.StatusOK).decode(t, &tok)
		if tok.UserID != id {
			t.Errorf("token for %q names %q", id, tok.UserID)
		}
		e.do("POST", "/v1/token/renew", session, map[string]any{"token": tok.Token}).want(t, http.StatusOK)
	}
	// Raw, unescaped characters that are legal in a path work too.
	e.do("GET", "/v1/users/[x]", testAdminKey, nil).want(t, http.StatusOK)
	for _, id := range ids {
		e.do("DELETE", "/v1/users/"+url.PathEscape(id), testAdminKey, nil).want(t, http.StatusNoContent)
	}
	e.wantNoUsers("users left after deleting all")
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var batch []map[string]any
	for i := 0; i < 25; i++ {
		batch = append(batch, map[string]any{"userID": fmt.Sprintf("u%02d", i)})
	}
	batch = append(batch, map[string]any{"userID": "U_upper"}, map[string]any{"userID": "v1"})
	e.do("POST", "/v1/users/import", testAdminKey, map[string]any{"users": batch}).want(t, http.StatusOK)

	var all []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		var page api.UserList
		e.do("GET", "/v1/users?limit=10&prefix=u&after="+url.QueryEscape(after), testAdminKey, nil).want(t, http.StatusOK).decode(t, &page)
		for _, u := range page.Users {
			all = append(all, u.UserID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(all) != 25 || all[0] != "u00" || all[24] != "u24" {
		t.Errorf("listed %q, want u00..u24 in order (prefix is case-sensitive)", all)
	}
	e.do("GET", "/v1/users?limit=1001", testAdminKey, nil).problem(t, http.StatusBadRequest, "invalid_limit")
	e.do("GET", "/v1/users?limit=0", testAdminKey, nil).problem(t, http.StatusBadRequest, "invalid_limit")
	e.do("GET", "/v1/users?limit=-1", testAdminKey, nil).problem(t, http.StatusBadRequest, "invalid_limit")
	e.do("GET", "/v1/users?limit=ten", testAdminKey, nil).problem(t, http.StatusBadRequest, "invalid_limit")
	e.do("GET", "/v1/users?prefix=a%20b", testAdminKey, nil).problem(t, http.StatusBadRequest, "invalid_prefix")
	e.do("GET", "/v1/users?after=a%2Fb", testAdminKey, nil).problem(t, http.StatusBadRequest, "invalid_after")
}

func TestImportUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := map[string]any{"users": []map[string]any{
		{"userID": "imp1", "password": testPassword},
		{"userID": "bad id"},
		{"userID": "imp2", "userName": "Two"},
		{"userID": "imp1"},
	}}
	var got api.ImportResponse
	e.do("POST", "/v1/users/import", testAdminKey, body).want(t, http.StatusOK).decode(t, &got)
	want := []string{"created", "invalid", "created", "exists"}
	for i, r := range got.Results {
		if r.Status != want[i] {
			t.Errorf("result %d = %+v, want %s", i, r, want[i])
		}
	}
	if e := got.Results[1].Error; e == nil || e.Code != "invalid_user_id" || e.Field != "userID" {
		t.Errorf("invalid item error = %+v", e)
	}
	// Running it again changes nothing.
	e.do("POST", "/v1/users/import", testAdminKey, body).want(t, http.StatusOK).decode(t, &got)
	for i, r := range got.Results {
		if i != 1 && r.Status != "exists" {
			t.Errorf("re-run result %d = %+v, want exists", i, r)
		}
	}
	e.login("imp1") // imported passwords work

	tooMany := make([]map[string]any, users.MaxImport+1)
	for i := range tooMany {
		tooMany[i] = map[string]any{"userID": fmt.Sprintf("many%d", i)}
	}
	e.do("POST", "/v1/users/import", testAdminKey, map[string]any{"users": tooMany}).problem(t, http.StatusBadRequest, codeTooManyUsers)
	e.do("GET", "/v1/users/many0", testAdminKey, nil).problem(t, http.StatusNotFound, codeUserNotFound)
}

func TestSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser("alice")
	var s api.SessionResponse
	resp := e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": testPassword}).want(t, http.StatusOK)
	resp.decode(t, &s)
	if s.TokenType != "Bearer" || s.ExpiresIn != 86400 || s.UserID != "alice" || s.AccessToken == "" {
		t.Errorf("session = %+v", s)
	}
	if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}

	wrong := e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": "wrong password"})
	unknown := e.do("POST", "/v1/sessions", "", map[string]any{"userID": "nobody", "password": "wrong password"})
	pw, pu := wrong.problem(t, 401, codeInvalidCredentials), unknown.problem(t, 401, codeInvalidCredentials)
	pw.RequestID, pu.RequestID = "", ""
	if diff := cmp.Diff(pw, pu, cmp.AllowUnexported(problem{})); diff != "" {
		t.Errorf("wrong password and unknown user answer differently:\n%s", diff)
	}
	e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice"}).problem(t, 401, codeInvalidCredentials)

	// A user without a password cannot log in.
	e.do("POST", "/v1/users", testAdminKey, map[string]any{"userID": "nopw"}).want(t, 201)
	e.do("POST", "/v1/sessions", "", map[string]any{"userID": "nopw", "password": "anything at all"}).problem(t, 401, codeInvalidCredentials)

	// The session expires.
	e.do("GET", "/v1/users/alice", s.AccessToken, nil).want(t, http.StatusOK)
	e.clock.Advance(24*time.Hour + time.Second)
	e.do("GET", "/v1/users/alice", s.AccessToken, nil).problem(t, 401, codeUnauthorized)
}

func TestSessionRevocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		revoke func(e *env)
	}{
		{"disabled", func(e *env) {
			e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"disabled": true}).want(e.t, 200)
		}},
		{"password changed by admin", func(e *env) {
			e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"password": "a new password"}).want(e.t, 200)
		}},
		{"deleted", func(e *env) { e.do("DELETE", "/v1/users/alice", testAdminKey, nil).want(e.t, 204) }},
		{"deleted and re-created", func(e *env) {
			e.do("DELETE", "/v1/users/alice", testAdminKey, nil).want(e.t, 204)
			e.createUser("alice")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			session := e.userWithSession("alice")
			e.do("POST", "/v1/token", session, nil).want(t, 200)
			tt.revoke(e)
			e.do("POST", "/v1/token", session, nil).problem(t, 401, codeUnauthorized)
			e.do("GET", "/v1/users/alice", session, nil).problem(t, 401, codeUnauthorized)
		})
	}

	t.Run("disabled user cannot log in", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.createUser("alice")
		e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"disabled": true}).want(t, 200)
		e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": testPassword}).problem(t, 403, codeUserDisabled)
		e.do("PATCH", "/v1/users/alice", testAdminKey, map[string]any{"disabled": false}).want(t, 200)
		e.login("alice")
	})
}

func TestSelfService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	session := e.userWithSession("alice")
	var u api.User
	e.do("PATCH", "/v1/users/alice", session, map[string]any{"userName": "Alice", "avatarURL": "https://a.example/x.png"}).want(t, 200).decode(t, &u)
	if u.UserName != "Alice" || u.AvatarURL != "https://a.example/x.png" {
		t.Errorf("self update = %+v", u)
	}
	e.do("PATCH", "/v1/users/alice", session, map[string]any{"disabled": true}).problem(t, 403, codeForbidden)
	e.do("PATCH", "/v1/users/alice", session, map[string]any{"password": "new password 1"}).problem(t, 400, codeInvalidRequest)
	e.do("PATCH", "/v1/users/alice", session, map[string]any{"password": "new password 1", "currentPassword": "not it"}).problem(t, 403, codeInvalidCredentials)
	e.do("GET", "/v1/users/alice", session, nil).want(t, 200) // still logged in after the failed attempts
	e.do("PATCH", "/v1/users/alice", session, map[string]any{"password": "new password 1", "currentPassword": testPassword}).want(t, 200)
	e.do("GET", "/v1/users/alice", session, nil).problem(t, 401, codeUnauthorized) // a password change ends sessions
	e.do("POST", "/v1/sessions", "", map[string]any{"userID": "alice", "password": "new password 1"}).want(t, 200)
}

func TestIssueToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	session := e.userWithSession("alice")
	e.userWithSession("bob")
	now := e.clock.Now().Unix()

	var tok api.TokenResponse
	resp := e.do("POST", "/v1/token", session, nil).want(t, http.StatusOK)
	resp.decode(t, &tok)
	if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	want := api.TokenResponse{Token: tok.Token, AppID: testAppID, UserID: "alice", UserName: "alice", IssuedAt: now, ExpiresAt: now + 3600, EffectiveTimeInSeconds: 3600}
	if diff := cmp.Diff(want, tok); diff != "" {
		t.Errorf("token response (-want +got):\n%s", diff)
	}
	claims, variant, err := e.key.Decode(tok.Token)
	if err != nil {
		t.Fatalf("minted token does not decode: %v", err)
	}
	if claims.AppID != testAppID || claims.UserID != "alice" || claims.IssuedAt != now || claims.ExpiresAt != now+3600 || claims.Payload != "" || variant != token.GCM {
		t.Errorf("claims = %+v, %v", claims, variant)
	}

	// Lifetimes within the bounds are honoured; outside them refused.
	e.do("POST", "/v1/token", session, map[string]any{"effectiveTimeInSeconds": 60}).want(t, 200).decode(t, &tok)
	if tok.ExpiresAt != now+60 {
		t.Errorf("60 s token expires at %d, want %d", tok.ExpiresAt, now+60)
	}
	e.do("POST", "/v1/token", session, map[string]any{"effectiveTimeInSeconds": 86400}).want(t, 200)
	for _, ttl := range []int64{59, 0, -1, 86401, token.MaxEffectiveTime + 1} {
		p := e.do("POST", "/v1/token", session, map[string]any{"effectiveTimeInSeconds": ttl}).problem(t, 400, codeInvalidTTL)
		if len(p.Errors) != 1 || p.Errors[0].Field != "effectiveTimeInSeconds" {
			t.Errorf("ttl %d: errors = %+v", ttl, p.Errors)
		}
	}

	// Room privileges travel in the payload.
	room := map[string]any{"roomID": "room-1", "login": true, "publish": false, "streamIDs": []string{"s1", "s_2"}}
	e.do("POST", "/v1/token", session, map[string]any{"room": room}).want(t, 200).decode(t, &tok)
	claims, _, err = e.key.Decode(tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	r, err := token.ParseRoom(claims.Payload)
	if err != nil {
		t.Fatalf("payload %q: %v", claims.Payload, err)
	}
	if diff := cmp.Diff(token.Room{RoomID: "room-1", Login: true, StreamIDs: []string{"s1", "s_2"}}, r); diff != "" {
		t.Errorf("room (-want +got):\n%s", diff)
	}
	for _, bad := range []map[string]any{
		{"roomID": ""},
		{"roomID": strings.Repeat("r", 129)},
		{"roomID": "has space"},
		{"roomID": "r", "streamIDs": []string{"bad stream"}},
		{"roomID": "r", "streamIDs": []string{""}},
	} {
		e.do("POST", "/v1/token", session, map[string]any{"room": bad}).problem(t, 400, codeInvalidRoom)
	}

	// Whose token: users only their own; admins must name a registered user.
	e.do("POST", "/v1/token", session, map[string]any{"userID": "alice"}).want(t, 200)
	e.do("POST", "/v1/token", session, map[string]any{"userID": "bob"}).problem(t, 403, codeForbidden)
	e.do("POST", "/v1/token", testAdminKey, nil).problem(t, 400, codeInvalidUserID)
	e.do("POST", "/v1/token", testAdminKey, map[string]any{"userID": "nobody"}).problem(t, 404, codeUserNotFound)
	e.do("POST", "/v1/token", testAdminKey, map[string]any{"userID": "bob"}).want(t, 200).decode(t, &tok)
	if tok.UserID != "bob" {
		t.Errorf("admin asked for bob, got %q", tok.UserID)
	}
	e.do("PATCH", "/v1/users/bob", testAdminKey, map[string]any{"disabled": true}).want(t, 200)
	e.do("POST", "/v1/token", testAdminKey, map[string]any{"userID": "bob"}).problem(t, 403, codeUserDisabled)

	// Only configured apps.
	e.do("POST", "/v1/token", session, map[string]any{"appID": testAppID}).want(t, 200)
	e.do("POST", "/v1/token", session, map[string]any{"appID": 7}).problem(t, 400, codeInvalidAppID)
	e.do("POST", "/v1/token", session, map[string]any{"appID": -1}).problem(t, 400, codeInvalidRequest)
}

func TestRenewToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	session := e.userWithSession("alice")
	bob := e.userWithSession("bob")
	room := map[string]any{"roomID": "room-1", "login": true, "publish": true, "streamIDs": []string{"s1"}}
	var old api.TokenResponse
	e.do("POST", "/v1/token", session, map[string]any{"room": room, "effectiveTimeInSeconds": 7200}).want(t, 200).decode(t, &old)

	// A renewal asking for less time than is left keeps the old expiry.
	e.clock.Advance(10 * time.Minute)
	var renewed api.TokenResponse
	resp := e.do("POST", "/v1/token/renew", session, map[string]any{"token": old.Token, "effectiveTimeInSeconds": 600}).want(t, 200)
	resp.decode(t, &renewed)
	if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if renewed.ExpiresAt != old.ExpiresAt {
		t.Errorf("renewal moved expiry from %d to %d", old.ExpiresAt, renewed.ExpiresAt)
	}
	if renewed.Token == old.Token || renewed.IssuedAt != e.clock.Now().Unix() {
		t.Errorf("renewal did not mint a new token: %+v", renewed)
	}
	claims, _, err := e.key.Decode(renewed.Token)
	if err != nil {
		t.Fatal(err)
	}
	oldClaims, _, _ := e.key.Decode(old.Token)
	if claims.Payload != oldClaims.Payload || claims.UserID != "alice" || claims.AppID != testAppID {
		t.Errorf("renewal lost app, user or room: %+v", claims)
	}
	if renewed.Room == nil || renewed.Room.RoomID != "room-1" || !renewed.Room.Publish {
		t.Errorf("renewed room = %+v", renewed.Room)
	}

	// Default lifetime from now, when that is later.
	e.clock.Advance(100 * time.Minute)
	e.do("POST", "/v1/token/renew", session, map[string]any{"token": renewed.Token}).want(t, 200).decode(t, &renewed)
	if want := e.clock.Now().Unix() + 3600; renewed.ExpiresAt != want {
		t.Errorf("renewed expiry %d, want %d", renewed.ExpiresAt, want)
	}

	// Only the owner or an admin.
	e.do("POST", "/v1/token/renew", bob, map[string]any{"token": renewed.Token}).problem(t, 403, codeForbidden)
	e.do("POST", "/v1/token/renew", testAdminKey, map[string]any{"token": renewed.Token}).want(t, 200)

	// Expired: renewable within the grace only.
	last := renewed
	e.clock.Advance(time.Hour + 4*time.Minute)
	e.do("POST", "/v1/token/renew", session, map[string]any{"token": last.Token}).want(t, 200).decode(t, &renewed)
	e.clock.Advance(time.Hour + 6*time.Minute)
	p := e.do("POST", "/v1/token/renew", session, map[string]any{"token": renewed.Token}).problem(t, 400, codeInvalidToken)
	if p.Reason != "expired" || p.ZIMErrorCode != 6000106 || p.RTCErrorCode != 1002078 {
		t.Errorf("expired renewal problem = %+v", p)
	}

	// Garbage, forgeries and other secrets.
	other, err := token.NewKey([]byte("ffffffffffffffffffffffffffffffff"))
	if err != nil {
		t.Fatal(err)
	}
	forged, _, err := other.Mint(strings.NewReader(strings.Repeat("r", 64)), e.clock.Now(), token.Params{AppID: testAppID, UserID: "alice", EffectiveTime: 3600})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ tok, reason string }{
		{"", ""},
		{"garbage", "malformed"},
		{"03" + forged[2:], "unsupported_version"},
		{forged, "bad_secret"},
	} {
		r := e.do("POST", "/v1/token/renew", session, map[string]any{"token": tc.tok})
		p := r.problem(t, 400, codeInvalidToken)
		if p.Reason != tc.reason {
			t.Errorf("renew %.10q: reason %q, want %q", tc.tok, p.Reason, tc.reason)
		}
	}
}

// TestRenewAcrossRotation: a token minted with the previous secret renews
// into one minted with the current secret.
func TestRenewAcrossRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	session := e.userWithSession("alice")
	var old api.TokenResponse
	e.do("POST", "/v1/token", session, nil).want(t, 200).decode(t, &old)

	newKey, err := token.NewKey([]byte("00000000000000000000000000000001"))
	if err != nil {
		t.Fatal(err)
	}
	creds := *e.api.creds.Load()
	app := creds.Apps[0]
	app.Keys = []*token.Key{newKey, e.key}
	creds.Apps = []apps.App{app}
	if err := e.api.Reload(&creds); err != nil {
		t.Fatal(err)
	}
	var v api.VerifyResponse
	e.do("POST", "/v1/token/verify", testAdminKey, map[string]any{"token": old.Token}).want(t, 200).decode(t, &v)
	if !v.Valid || v.Secret != "previous" {
		t.Errorf("old token after rotation: %+v", v)
	}
	var renewed api.TokenResponse
	e.do("POST", "/v1/token/renew", session, map[string]any{"token": old.Token}).want(t, 200).decode(t, &renewed)
	if _, _, err := newKey.Decode(renewed.Token); err != nil {
		t.Errorf("renewed token is not under the new secret: %v", err)
	}
	if _, _, err := e.key.Decode(renewed.Token); err == nil {
		t.Error("renewed token decodes with the old secret")
	}
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	session := e.userWithSession("alice")
	room := map[string]any{"roomID": "r-9", "login": true, "publish": true, "streamIDs": []string{"s1"}}
	var tok api.TokenResponse
	e.do("POST", "/v1/token", session, map[string]any{"room": room}).want(t, 200).decode(t, &tok)

	var v api.VerifyResponse
	e.do("POST", "/v1/token/verify", testAdminKey, map[string]any{"token": tok.Token, "userID": "alice", "appID": testAppID}).want(t, 200).decode(t, &v)
	if !v.Valid || v.Variant != "gcm" || v.AppID != testAppID || v.UserID != "alice" || v.IssuedAt != tok.IssuedAt ||
		v.ExpiresAt != tok.ExpiresAt || v.Nonce == nil || v.Room == nil || v.Room.RoomID != "r-9" || v.Secret != "current" || v.Reason != "" {
		t.Errorf("verify = %+v", v)
	}

	check := func(body map[string]any, reason string, zim, rtc int) api.VerifyResponse {
		t.Helper()
		var v api.VerifyResponse
		e.do("POST", "/v1/token/verify", testAdminKey, body).want(t, 200).decode(t, &v)
		if v.Valid || v.Reason != reason || v.ZIMErrorCode != zim || v.RTCErrorCode != rtc {
			t.Errorf("verify %v = %+v, want reason %s zim %d rtc %d", body, v, reason, zim, rtc)
		}
		return v
	}
	check(map[string]any{"token": tok.Token, "userID": "bob"}, "user_mismatch", 6000103, 1002077)
	check(map[string]any{"token": "nonsense"}, "malformed", 6000103, 1002075)
	check(map[string]any{"token": "03" + tok.Token[2:]}, "unsupported_version", 6000107, 1002079)

	other, err := token.NewKey([]byte("ffffffffffffffffffffffffffffffff"))
	if err != nil {
		t.Fatal(err)
	}
	forged, fc, err := other.Mint(strings.NewReader(strings.Repeat("r", 64)), e.clock.Now(), token.Params{AppID: testAppID, UserID: "alice", EffectiveTime: 600})
	if err != nil {
		t.Fatal(err)
	}
	v = check(map[string]any{"token": forged}, "bad_secret", 6000103, 1002075)
	if v.ExpiresAt != fc.ExpiresAt || v.UserID != "" {
		t.Errorf("unauthenticated token shows %+v; want only the header expiry %d", v, fc.ExpiresAt)
	}

	e.clock.Advance(time.Hour - 20*time.Second)
	check(map[string]any{"token": tok.Token}, "ttl_too_short", 6000108, 0)
	e.clock.Advance(time.Minute)
	v = check(map[string]any{"token": tok.Token}, "expired", 6000106, 1002078)
	if v.UserID != "alice" {
		t.Errorf("expired but authentic token should still show its claims: %+v", v)
	}

	e.do("POST", "/v1/token/verify", testAdminKey, map[string]any{"token": tok.Token, "appID": 42}).problem(t, 400, codeInvalidAppID)
	e.do("POST", "/v1/token/verify", testAdminKey, map[string]any{}).problem(t, 400, codeInvalidToken)
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.cfg.CORSOrigins = []string{"https://app.example.com"} })
	preflight := func(origin string) http.Header {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/v1/token", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	if got := preflight("https://app.example.com").Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Errorf("allowed origin: Access-Control-Allow-Origin = %q", got)
	}
	if got := preflight("https://evil.example.com").Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin: Access-Control-Allow-Origin = %q", got)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		want    string
	}{
		{"no proxy configured", nil, "203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"},
		{"untrusted peer cannot pick its IP", []string{"10.0.0.0/8"}, "203.0.113.9:1234", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy", []string{"10.0.0.0/8"}, "10.0.0.2:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed hop before the proxy", []string{"10.0.0.0/8"}, "10.0.0.2:1234", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", []string{"10.0.0.0/8"}, "10.0.0.2:1234", []string{"198.51.100.7, 10.0.0.5", "10.0.0.3"}, "198.51.100.7"},
		{"garbage header", []string{"10.0.0.0/8"}, "10.0.0.2:1234", []string{"not-an-ip"}, "10.0.0.2"},
		{"ipv6 peer", nil, "[::1]:1234", nil, "::1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{}
			for _, p := range tt.trusted {
				s.cfg.TrustedProxies = append(s.cfg.TrustedProxies, mustPrefix(t, p))
			}
			req, _ := http.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.remote
			for _, h := range tt.xff {
				req.Header.Add("X-Forwarded-For", h)
			}
			if got := s.clientIPOf(req).String(); got != tt.want {
				t.Errorf("clientIPOf = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/users/nobody", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	req.Header.Set("X-Request-ID", "trace-abc-123")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got != "trace-abc-123" {
		t.Errorf("X-Request-ID = %q", got)
	}
	if !strings.Contains(string(body), `"requestID":"trace-abc-123"`) {
		t.Errorf("problem lacks the request ID: %s", body)
	}
	if !strings.Contains(e.logs.String(), `"request_id":"trace-abc-123"`) {
		t.Error("log lacks the request ID")
	}
	// A request ID that could forge log lines is replaced.
	req.Header.Set("X-Request-ID", `evil"}{`)
	resp, err = e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got == "" || strings.ContainsAny(got, "\"{}\n") {
		t.Errorf("unsafe X-Request-ID echoed: %q", got)
	}
}

func TestPanicBecomes500(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mux := chi.NewRouter()
	mux.Get("/", func(http.ResponseWriter, *http.Request) { panic("boom") })
	srv := httptestServer(t, e.api.observe(newRequestIDs(), mux))
	resp, err := http.Get(srv + "/")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), `"code":"internal"`) || strings.Contains(string(body), "boom") {
		t.Errorf("panic answered %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(e.logs.String(), "boom") {
		t.Error("panic not logged")
	}
	// The server still serves.
	e.do("GET", "/healthz", "", nil).want(t, 200)
}
