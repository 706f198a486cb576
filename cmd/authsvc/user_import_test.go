package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestUserImportStrictJSON: a line of an import file is read exactly as
// the API reads a user to import. Each line is sent to a running server as
// the only user of POST /v1/users/import, and imported from a file by the
// CLI: the API refuses the request (400) exactly when the CLI reports the
// line as invalid_json, and neither repeats a password.
func TestUserImportStrictJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line string
		ok         bool
	}{
		{"plain", `{"userID":"s1","userName":"S One"}`, true},
		{"escapes", `{"userID":"s2","userName":"\u00e9\ud83d\ude00"}`, true},
		{"name in capitals", `{"USERID":"s3"}`, false},
		{"name in lower case", `{"userid":"s4"}`, false},
		{"name in mixed case", `{"userID":"s5","UserName":"x"}`, false},
		{"duplicate name", `{"userID":"s6","userID":"s7"}`, false},
		{"duplicate password", `{"userID":"s8","password":"hunter2-secret","password":"correct horse battery"}`, false},
		{"invalid UTF-8", "{\"userID\":\"s9\xff\"}", false},
		{"lone surrogate", `{"userID":"s10\ud800"}`, false},
		{"null userID", `{"userID":null}`, false},
		{"null userName", `{"userID":"s11","userName":null}`, false},
		{"null line", `null`, false},
		{"array", `[]`, false},
		{"string", `"s12"`, false},
		{"unknown field", `{"userID":"s13","colour":"blue"}`, false},
		{"wrong type", `{"userID":"s14","userName":7}`, false},
		{"two values", `{"userID":"s15"} {"userID":"s16"}`, false},
		{"truncated", `{"userID":"s17"`, false},
	}

	srv := startServer(t, productionEnv(t))
	for _, tt := range tests {
		body := []byte(`{"users":[` + tt.line + `]}`)
		req, err := http.NewRequest("POST", srv.url+"/v1/users/import", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e2eAdminKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusOK; got != tt.ok || (!got && resp.StatusCode != http.StatusBadRequest) {
			t.Errorf("%s: POST /v1/users/import with %q = %d, want accepted %v", tt.name, tt.line, resp.StatusCode, tt.ok)
		}
	}

	c := newCLI(t)
	var file strings.Builder
	for _, tt := range tests {
		file.WriteString(tt.line + "\n")
	}
	path := filepath.Join(t.TempDir(), "strict.jsonl")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, _ := c.run("", "user", "import", "--json", path)
	lines, _ := parseImportOutput(t, out)
	if len(lines) != len(tests) {
		t.Fatalf("user import printed %d results for %d lines:\n%s%s", len(lines), len(tests), out, errOut)
	}
	for i, tt := range tests {
		l := lines[i]
		invalidJSON := l.Status == "invalid" && len(l.Errors) == 1 && l.Errors[0].Code == "invalid_json"
		if l.Line != i+1 || invalidJSON == tt.ok || (tt.ok && l.Status != "created") {
			t.Errorf("%s: user import of %q = %+v, want accepted %v", tt.name, tt.line, l, tt.ok)
		}
	}
	if strings.Contains(out+errOut, "hunter2") || strings.Contains(out+errOut, "horse") {
		t.Errorf("user import repeats a password:\n%s%s", out, errOut)
	}
}

// FuzzImportLine: whatever a line holds, parsing it does not panic; a line
// it accepts is valid UTF-8, and encoding/json, which is more lenient,
// reads the same user from it.
func FuzzImportLine(f *testing.F) {
	for _, s := range []string{
		`{"userID":"a","userName":"A","password":"correct horse","avatarURL":"https://a.example/a.png","extendedData":"x"}`,
		`{"USERID":"a"}`, `{"userID":"a","userID":"b"}`, "{\"userID\":\"\xff\"}", `{"userID":"\ud800"}`,
		`{"userID":null}`, `null`, `{} {}`, `{"userID":"\u00e9"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		it := parseImportLine(1, line)
		if it.err != nil {
			if it.user != (importItem{}).user {
				t.Errorf("parseImportLine(%q) = %+v with error %v", line, it.user, it.err)
			}
			return
		}
		if !utf8.Valid(line) {
			t.Errorf("parseImportLine accepted invalid UTF-8 %q", line)
		}
		var lenient struct {
			UserID, UserName, Password, AvatarURL, ExtendedData string
		}
		if err := json.Unmarshal(line, &lenient); err != nil {
			t.Fatalf("parseImportLine accepted %q, which encoding/json refuses: %v", line, err)
		}
		u := it.user
		if lenient.UserID != u.ID || lenient.UserName != u.Name || lenient.Password != u.Password ||
			lenient.AvatarURL != u.AvatarURL || lenient.ExtendedData != u.ExtendedData {
			t.Errorf("parseImportLine(%q) = %+v, encoding/json reads %+v", line, u, lenient)
		}
	})
}
