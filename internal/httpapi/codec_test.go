package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"authsvc/api"
)

// TestExactJSON checks that a body is accepted only as the contract spells
// it: exact field names, each once, valid UTF-8, null only where nullable.
func TestExactJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, path, body string
		field            string // the field the problem names, if any
		code             string
	}{
		{"lower-case d", "/v1/users", `{"userId":"a"}`, "userId", codeInvalidRequest},
		{"upper-case", "/v1/users", `{"UserID":"a"}`, "UserID", codeInvalidRequest},
		{"long s", "/v1/users", `{"userID":"a","paſsword":"correct horse battery"}`, "paſsword", codeInvalidRequest},
		{"duplicate", "/v1/users", `{"userID":"a","userID":"b"}`, "userID", codeInvalidRequest},
		{"duplicate by escape", "/v1/users", `{"userID":"a","user\u0049D":"b"}`, "userID", codeInvalidRequest},
		{"duplicate nested", "/v1/token", `{"userID":"a","room":{"roomID":"r","roomID":"s"}}`, "room.roomID", codeInvalidRequest},
		{"invalid UTF-8", "/v1/users", "{\"userID\":\"a\",\"userName\":\"A\xffB\"}", "", codeInvalidRequest},
		{"overlong UTF-8", "/v1/users", "{\"userID\":\"a\",\"userName\":\"\xc0\xaf\"}", "", codeInvalidRequest},
		{"UTF-8 surrogate", "/v1/users", "{\"userID\":\"a\",\"userName\":\"\xed\xa0\x80\"}", "", codeInvalidRequest},
		{"lone high surrogate", "/v1/users", `{"userID":"a","userName":"\ud800"}`, "", codeInvalidRequest},
		{"lone low surrogate", "/v1/users", `{"userID":"a","userName":"\udc00x"}`, "", codeInvalidRequest},
		{"high surrogate, then not low", "/v1/users", `{"userID":"a","userName":"\ud800\u0041"}`, "", codeInvalidRequest},
		{"invalid UTF-8 in a name", "/v1/users", "{\"userID\":\"a\",\"user\xffName\":\"A\"}", "", codeInvalidRequest},
		{"null body", "/v1/users", `null`, "userID", codeInvalidUserID},
		{"null userID", "/v1/users", `{"userID":null}`, "userID", codeInvalidUserID},
		{"null userName", "/v1/users", `{"userID":"a","userName":null}`, "userName", codeInvalidRequest},
		{"null password", "/v1/users", `{"userID":"a","password":null}`, "password", codeInvalidRequest},
		{"import: duplicate", "/v1/users/import", `{"users":[{"userID":"a","userID":"b"}]}`, "users[0].userID", codeInvalidRequest},
		{"import: folded name", "/v1/users/import", `{"users":[{"userID":"a"},{"USERID":"b"}]}`, "users[1].USERID", codeInvalidRequest},
		{"import: folded top name", "/v1/users/import", `{"Users":[{"userID":"a"}]}`, "Users", codeInvalidRequest},
		{"import: null userID", "/v1/users/import", `{"users":[{"userID":null}]}`, "users[0].userID", codeInvalidUserID},
		{"import: null item", "/v1/users/import", `{"users":[null]}`, "users[0]", codeInvalidRequest},
		{"import: null users", "/v1/users/import", `{"users":null}`, "users", codeInvalidRequest},
		{"import: lone surrogate", "/v1/users/import", `{"users":[{"userID":"a","userName":"\udfff"}]}`, "", codeInvalidRequest},
		{"import: null body", "/v1/users/import", `null`, "", codeInvalidRequest},
		{"token: null body", "/v1/token", `null`, "", codeInvalidRequest},
		{"token: null room", "/v1/token", `{"userID":"a","room":null}`, "room", codeInvalidRequest},
		{"token: null stream", "/v1/token", `{"userID":"a","room":{"roomID":"r","streamIDs":[null]}}`, "room.streamIDs[0]", codeInvalidRequest},
		{"token: folded nested name", "/v1/token", `{"userID":"a","room":{"roomId":"r"}}`, "room.roomId", codeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.do("POST", tt.path, testAdminKey, tt.body).problem(t, http.StatusBadRequest, tt.code)
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("POST %s %s: errors = %+v, want one naming %q", tt.path, tt.body, p.Errors, tt.field)
			}
			if strings.Contains(p.Detail, "correct horse") {
				t.Errorf("detail quotes the input: %q", p.Detail)
			}
		})
	}
	e.wantNoUsers("refused requests created users")
}

// TestExactJSONAccepts checks what the strict decoding still accepts.
func TestExactJSONAccepts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	var u api.User
	e.do("POST", "/v1/users", testAdminKey, `{"userID":"smile","userName":"\ud83d\ude00 \u00e9"}`).want(t, http.StatusCreated).decode(t, &u)
	if u.UserName != "😀 é" {
		t.Errorf("userName = %q, want the decoded surrogate pair", u.UserName)
	}
	// Leaving userID out still assigns one.
	var assigned api.User
	e.do("POST", "/v1/users", testAdminKey, `{"userName":"Anon"}`).want(t, http.StatusCreated).decode(t, &assigned)
	if len(assigned.UserID) != 26 {
		t.Errorf("assigned userID = %q, want 26 characters", assigned.UserID)
	}
	// An import item with an empty userID is reported, not given an ID.
	var imp api.ImportResponse
	e.do("POST", "/v1/users/import", testAdminKey, `{"users":[{"userID":""},{"userName":"x"},{"userID":"imp"}]}`).
		want(t, http.StatusOK).decode(t, &imp)
	want := []string{"invalid", "invalid", "created"}
	for i, r := range imp.Results {
		if r.Status != want[i] || (i < 2 && (r.Error == nil || r.Error.Code != codeInvalidUserID)) {
			t.Errorf("import result %d = %+v, want %s", i, r, want[i])
		}
	}
	// room.streamIDs is nullable: any stream.
	e.do("POST", "/v1/token", testAdminKey, `{"userID":"smile","room":{"roomID":"r","login":true,"streamIDs":null}}`).want(t, http.StatusOK)
	// A body of only whitespace is an empty body, which the token route allows.
	e.do("POST", "/v1/token", e.userWithSession("tok"), " \n").want(t, http.StatusOK)
}

// FuzzDecode feeds decode arbitrary bodies: it never panics, refuses only
// with a 4xx problem, and accepts only valid UTF-8 whose field names are
// exactly the contract's.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `null`, `[]`, `"x"`, `{"userID":"a"}`, `{"userId":"a"}`, `{"diſabled":true}`,
		`{"userID":"a","userID":"b"}`, `{"userName":"\ud800"}`, `{"userName":"\ud83d\ude00"}`, "{\"userName\":\"\xff\"}",
		`{"userID":null}`, `{"userID":""}`, `{"userID":"x"} {}`, `{"userID":`, `{"extendedData":"\u0000"}`,
		`{"users":[{"userID":"a"},{"userID":"a"}]}`, `{"room":{"roomID":"r","streamIDs":null}}`,
	} {
		f.Add(s)
	}
	known := map[string]bool{"userID": true, "userName": true, "password": true, "avatarURL": true, "extendedData": true}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/users", strings.NewReader(body))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, maxBody)
		var req api.NewUser
		err := decode(r, &req, false)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return
			}
			p, ok := toProblem(err)
			if !ok || p.Status < 400 || p.Status > 499 {
				t.Fatalf("decode(%q) = %v, want a 4xx problem", body, err)
			}
			return
		}
		if !utf8.ValidString(body) {
			t.Fatalf("decode(%q) accepted invalid UTF-8", body)
		}
		for _, s := range []string{req.UserName, req.Password, req.AvatarURL, req.ExtendedData} {
			if !utf8.ValidString(s) {
				t.Fatalf("decode(%q) produced invalid UTF-8 %q", body, s)
			}
		}
		var names map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &names); err != nil {
			t.Fatalf("decode(%q) accepted what encoding/json refuses: %v", body, err)
		}
		for name := range names {
			if !known[name] {
				t.Fatalf("decode(%q) accepted the field %q", body, name)
			}
		}
	})
}

// TestExplicitEmptyUserID: only a userID left out is assigned; an explicit
// "" (an unset variable in a script, say) is refused and creates nobody.
func TestExplicitEmptyUserID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, body := range []string{`{"userID":""}`, `{"userID":"","userName":"A","password":"correct horse battery"}`, `{"userID":null}`, `null`} {
		p := e.do("POST", "/v1/users", testAdminKey, body).problem(t, http.StatusBadRequest, codeInvalidUserID)
		if len(p.Errors) != 1 || p.Errors[0].Field != "userID" {
			t.Errorf("POST /v1/users %s: errors = %+v, want one naming userID", body, p.Errors)
		}
	}
	// An import needs its users listed: {} is not an empty import.
	p := e.do("POST", "/v1/users/import", testAdminKey, `{}`).problem(t, http.StatusBadRequest, codeInvalidRequest)
	if len(p.Errors) != 1 || p.Errors[0].Field != "users" {
		t.Errorf("import {}: errors = %+v, want one naming users", p.Errors)
	}
	e.wantNoUsers("an explicit empty userID created a user")

	var u api.User
	e.do("POST", "/v1/users", testAdminKey, `{}`).want(t, http.StatusCreated).decode(t, &u)
	if len(u.UserID) != 26 {
		t.Errorf("POST /v1/users {}: userID = %q, want an assigned one", u.UserID)
	}
	var imp api.ImportResponse
	e.do("POST", "/v1/users/import", testAdminKey, `{"users":[]}`).want(t, http.StatusOK).decode(t, &imp)
	if len(imp.Results) != 0 {
		t.Errorf("empty import: results = %+v", imp.Results)
	}
}

// FuzzAppendToken: whatever a token response holds, appendToken writes
// exactly encode's bytes, or declines and leaves it to encode.
func FuzzAppendToken(f *testing.F) {
	f.Add("04AAAAAGkAbc+/=", uint32(1234567890), "alice", "Alice <a&b>", int64(1700000000), int64(1700003600), true, "room-1", true, false, "cam,mic")
	f.Add("04x", uint32(0), "u", "Zoë", int64(-1), int64(0), false, "", false, false, "")
	f.Add("04x", uint32(7), "u", "quote\"back\\slash\n", int64(1), int64(2), true, "r<1>", false, true, "")
	f.Fuzz(func(t *testing.T, tok string, appID uint32, userID, userName string, iat, exp int64, hasRoom bool, roomID string, login, publish bool, streams string) {
		resp := api.TokenResponse{Token: tok, AppID: appID, UserID: userID, UserName: userName,
			IssuedAt: iat, ExpiresAt: exp, EffectiveTimeInSeconds: exp - iat}
		if hasRoom {
			resp.Room = &api.Room{RoomID: roomID, Login: login, Publish: publish}
			if streams != "" {
				resp.Room.StreamIDs = strings.Split(streams, ",")
			}
		}
		got, ok := appendToken(nil, &resp)
		if !ok {
			return
		}
		w := httptest.NewRecorder()
		if err := encode(w, http.StatusOK, resp); err != nil {
			t.Fatal(err)
		}
		if want := w.Body.String(); string(got) != want {
			t.Errorf("appendToken(%+v) = %q, want %q", resp, got, want)
		}
	})
}

// TestEncodeTokenFastPath: the responses the token routes send take the
// hand-written path, and come out as encode writes them.
func TestEncodeTokenFastPath(t *testing.T) {
	t.Parallel()
	tests := []api.TokenResponse{
		{Token: "04AAAAAGkAbc+/xyz=", AppID: 1234567890, UserID: "user-1", UserName: "Ada Lovelace", IssuedAt: 1700000000, ExpiresAt: 1700086400, EffectiveTimeInSeconds: 86400},
		{Token: "04abc", AppID: 1, UserID: "u_2", IssuedAt: 1, ExpiresAt: 3601, EffectiveTimeInSeconds: 3600,
			Room: &api.Room{RoomID: "r1", Login: true, Publish: true, StreamIDs: []string{"cam", "mic"}}},
		{Token: "04abc", AppID: 1, UserID: "u", Room: &api.Room{RoomID: "r1", StreamIDs: []string{}}},
	}
	for _, tt := range tests {
		got, ok := appendToken(nil, &tt)
		if !ok {
			t.Errorf("appendToken(%+v) declined a plain response", tt)
			continue
		}
		w := httptest.NewRecorder()
		if err := encode(w, http.StatusOK, tt); err != nil {
			t.Fatal(err)
		}
		if string(got) != w.Body.String() {
			t.Errorf("appendToken(%+v) = %q, want %q", tt, got, w.Body.String())
		}
	}
}

// TestPlainJSONEveryByte: plainJSON lets a byte through exactly when
// encoding/json writes it, alone in a string, as it is, but for DEL, which
// it refuses as well.
func TestPlainJSONEveryByte(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		s := string([]byte{byte(c)})
		js, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := string(js) == `"`+s+`"` && c != 0x7f; plainJSON(s) != want {
			t.Errorf("plainJSON(%q) = %v, want %v (encoding/json writes %s)", s, !want, want, js)
		}
	}
}
