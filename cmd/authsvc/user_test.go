package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/sqldb"
	"authsvc/internal/sqldb/sqldbtest"
	"authsvc/internal/users"
	"authsvc/migrations"
)

// cli runs authsvc commands against one database file named by AUTHSVC_DB.
type cli struct {
	t   *testing.T
	env map[string]string
}

// newCLI returns a cli on a new, migrated database.
func newCLI(t *testing.T) *cli {
	t.Helper()
	c := &cli{t: t, env: map[string]string{"AUTHSVC_DB": filepath.Join(t.TempDir(), "cli.db")}}
	c.ok("", "migrate", "--create")
	return c
}

// run runs "authsvc args..." with stdin and returns its output and exit
// status as main would set it.
func (c *cli) run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return c.env[k] }
	err := run(context.Background(), append([]string{"authsvc"}, args...), getenv, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String() + errText(err), exitCode(err)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		return 1
	}
}

// ok runs a command that must succeed and returns its standard output.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("authsvc %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// fails runs a command that must exit with code and returns its standard
// error, with the error main would print.
func (c *cli) fails(code int, args ...string) string {
	c.t.Helper()
	out, errOut, got := c.run("", args...)
	if got != code {
		c.t.Fatalf("authsvc %s: exit %d, want %d; stdout %q, stderr %q", strings.Join(args, " "), got, code, out, errOut)
	}
	return errOut
}

func decodeUser(t *testing.T, s string) userJSON {
	t.Helper()
	var u userJSON
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		t.Fatalf("decode user from %q: %v", s, err)
	}
	return u
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	files, err := fs.Glob(migrations.SQLite(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	latest := len(files)
	out := c.ok("", "migrate")
	if !strings.Contains(out, fmt.Sprintf("schema version %d", latest)) {
		t.Errorf("migrate printed %q, want the schema version %d", out, latest)
	}
	// Again: nothing to do, same version.
	out = c.ok("", "migrate", "--json")
	trail, _ := filepath.Abs(sqldb.AuditPath(c.env["AUTHSVC_DB"]))
	if strings.TrimSpace(out) != fmt.Sprintf(`{"schemaVersion":%d,"auditFile":%q}`, latest, trail) {
		t.Errorf("migrate --json printed %q", out)
	}
	// --db wins over AUTHSVC_DB. A missing file is created only with
	// --create; the error names the file and where its name came from.
	other := filepath.Join(t.TempDir(), "other.db")
	if msg := c.fails(1, "migrate", "--db", other); !strings.Contains(msg, other+" does not exist (from --db); pass --create") {
		t.Errorf("migrate --db of a missing file: %q, want it to name the file, --db and --create", msg)
	}
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("migrate without --create made %s: %v", other, err)
	}
	c.ok("", "migrate", "--db", other, "--create")
	if _, err := os.Stat(other); err != nil {
		t.Errorf("migrate --db --create did not create %s: %v", other, err)
	}
	c.fails(2, "migrate", "extra")
	c.fails(2, "migrate", "--bogus")
}

func TestSchemaTooNewCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("", "migrate")
	db := sqldbtest.OpenPath(t, c.env["AUTHSVC_DB"])
	if _, err := db.Writer.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, args := range [][]string{{"migrate"}, {"user", "list"}} {
		if msg := c.fails(1, args...); !strings.Contains(msg, "upgrade the binary") {
			t.Errorf("authsvc %v on a newer database: %q, want it to say to upgrade", args, msg)
		}
	}
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)

	alice := decodeUser(t, c.ok("", "user", "add", "--user-id", "alice", "--name", "Alice A.",
		"--avatar-url", "https://a.example/alice.png", "--extended-data", "line1\nline2", "--json"))
	if alice.UserID != "alice" || alice.UserName != "Alice A." || alice.HasPassword || alice.Disabled ||
		alice.ExtendedData != "line1\nline2" {
		t.Errorf("user add alice = %+v", alice)
	}
	// Times as the API writes them: RFC 3339, UTC, whole seconds.
	for _, ts := range []string{alice.CreatedAt, alice.UpdatedAt} {
		if tm, err := time.Parse(time.RFC3339, ts); err != nil || tm.Location() != time.UTC || tm.Nanosecond() != 0 ||
			ts != tm.Format(time.RFC3339) {
			t.Errorf("user add alice --json: time %q, want RFC 3339 in UTC to the second (%v)", ts, err)
		}
	}
	if out := c.ok("", "user", "get", "alice"); !strings.Contains(out, alice.CreatedAt+"\n") {
		t.Errorf("user get alice printed\n%s\nwant createdAt %s, as --json shows it", out, alice.CreatedAt)
	}

	// A password comes from standard input and is never printed.
	out := c.ok("s3cret-passw0rd\n", "user", "add", "--user-id", "bob", "--password-stdin")
	if strings.Contains(out, "s3cret") || strings.Contains(out, "argon2") {
		t.Errorf("user add printed the password or its hash: %q", out)
	}
	if !strings.Contains(out, "password") || !strings.Contains(out, "yes") {
		t.Errorf("user add --password-stdin printed %q, want password yes", out)
	}
	c.fails(1, "user", "add", "--user-id", "carol", "--password-stdin") // empty standard input

	// An assigned ID.
	anon := decodeUser(t, c.ok("", "user", "add", "--json"))
	if err := users.ValidateID(anon.UserID); err != nil || anon.UserName != anon.UserID {
		t.Errorf("user add without an ID = %+v (%v)", anon, err)
	}

	// get, as a table and as JSON; flags may follow the ID.
	out = c.ok("", "user", "get", "alice")
	for _, want := range []string{"alice", "Alice A.", "https://a.example/alice.png", `"line1\nline2"`} {
		if !strings.Contains(out, want) {
			t.Errorf("user get alice printed\n%s\nwant it to contain %q", out, want)
		}
	}
	if got := decodeUser(t, c.ok("", "user", "get", "alice", "--json")); !cmp.Equal(got, alice) {
		t.Errorf("user get alice --json = %+v, want %+v", got, alice)
	}

	// disable, enable.
	if got := decodeUser(t, c.ok("", "user", "disable", "--json", "alice")); !got.Disabled {
		t.Errorf("user disable alice = %+v", got)
	}
	if got := decodeUser(t, c.ok("", "user", "enable", "alice", "--json")); got.Disabled {
		t.Errorf("user enable alice = %+v", got)
	}

	// list.
	var page struct {
		Users []userJSON `json:"users"`
		Next  string     `json:"next"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "user", "list", "--json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 3 || page.Next != "" {
		t.Errorf("user list --json = %+v, want 3 users and no next page", page)
	}
	out, errOut, code := c.run("", "user", "list", "--limit", "1", "--prefix", "")
	if code != 0 || !strings.Contains(out, "USER ID") || strings.Count(out, "\n") != 2 || !strings.Contains(errOut, "--after") {
		t.Errorf("user list --limit 1 = %q, %q, exit %d; want a header, one user and a hint for the next page", out, errOut, code)
	}
	for _, bad := range []string{"0", "-1", "1001"} {
		if msg := c.fails(2, "user", "list", "--limit", bad); !strings.Contains(msg, "the page size is 1 to 1000") {
			t.Errorf("user list --limit %s: %q", bad, msg)
		}
	}
	out = c.ok("", "user", "list", "--prefix", "b")
	if !strings.Contains(out, "bob") || strings.Contains(out, "alice") {
		t.Errorf("user list --prefix b = %q", out)
	}
	out = c.ok("", "user", "list", "--after", "alice", "--prefix", "a")
	if strings.Contains(out, "alice") {
		t.Errorf("user list --after alice = %q", out)
	}

	// delete.
	if out := c.ok("", "user", "delete", "bob"); strings.TrimSpace(out) != "deleted bob" {
		t.Errorf("user delete bob printed %q", out)
	}
	if msg := c.fails(1, "user", "get", "bob"); !strings.Contains(msg, "not found") {
		t.Errorf("user get of a deleted user: %q", msg)
	}
	c.fails(1, "user", "delete", "bob")
	c.fails(1, "user", "disable", "bob")

	// An ID that looks like a flag.
	c.ok("", "user", "add", "--user-id=-dash")
	if got := decodeUser(t, c.ok("", "user", "get", "--json", "--", "-dash")); got.UserID != "-dash" {
		t.Errorf("user get -- -dash = %+v", got)
	}
}

func TestUserCommandErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("", "user", "add", "--user-id", "taken")
	tests := []struct {
		args []string
		code int
		want string // in the error output
	}{
		{[]string{"user"}, 2, "missing command"},
		{[]string{"user", "bogus"}, 2, "unknown command"},
		{[]string{"user", "get"}, 2, "want 1 argument"},
		{[]string{"user", "get", "a", "b"}, 2, "want 1 argument"},
		{[]string{"user", "add", "extra"}, 2, "want 0 argument"},
		{[]string{"user", "add", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"user", "list", "--limit", "many"}, 2, "invalid value"},
		{[]string{"user", "get", "a b"}, 1, "byte offset 1"},
		{[]string{"user", "get", "nobody"}, 1, "user not found"},
		{[]string{"user", "add", "--user-id", "taken"}, 1, "already exists"},
		{[]string{"user", "add", "--user-id", ""}, 2, "--user-id is empty"},
		{[]string{"user", "add", "--user-id=", "--name", "X"}, 2, "--user-id is empty"},
		{[]string{"user", "add", "--user-id", "a/b", "--avatar-url", "ftp://x"}, 1, "avatarURL"},
		{[]string{"user", "list", "--limit", "5000"}, 2, "the page size is 1 to 1000"},
		{[]string{"user", "list", "--prefix", "a b"}, 1, "prefix"},
		{[]string{"user", "import"}, 2, "want 1 argument"},
		{[]string{"user", "import", filepath.Join(t.TempDir(), "missing.jsonl")}, 1, "no such file"},
	}
	for _, tt := range tests {
		msg := c.fails(tt.code, tt.args...)
		if !strings.Contains(msg, tt.want) {
			t.Errorf("authsvc %v: error output %q, want it to contain %q", tt.args, msg, tt.want)
		}
	}
	// None of them created a user.
	var page struct{ Users []userJSON }
	if err := json.Unmarshal([]byte(c.ok("", "user", "list", "--json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 1 || page.Users[0].UserID != "taken" {
		t.Errorf("after the failed commands, users = %+v, want only taken", page.Users)
	}
	// Help is not an error.
	for _, args := range [][]string{{"user", "help"}, {"user", "get", "-h"}, {"migrate", "--help"}} {
		out, errOut, code := c.run("", args...)
		if code != 0 || !strings.Contains(out+errOut, "Usage") {
			t.Errorf("authsvc %v: exit %d, output %q", args, code, out+errOut)
		}
	}
}

func TestDBPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"", nil, "authsvc.db"},
		{"", map[string]string{"AUTHSVC_DB": "env.db"}, "env.db"},
		{"flag.db", map[string]string{"AUTHSVC_DB": "env.db"}, "flag.db"},
	}
	for _, tt := range tests {
		f := newDBFlags("x", "x", 0, func(k string) string { return tt.env[k] }, &bytes.Buffer{})
		var args []string
		if tt.flag != "" {
			args = []string{"--db", tt.flag}
		}
		if _, err := f.parse(args, 0); err != nil {
			t.Fatal(err)
		}
		if got := f.path(); got != tt.want {
			t.Errorf("path(flag %q, env %v) = %q, want %q", tt.flag, tt.env, got, tt.want)
		}
	}
}

type importOut struct {
	Line   int    `json:"line"`
	UserID string `json:"userID"`
	Status string `json:"status"`
	Errors []struct {
		Field string `json:"field"`
		Code  string `json:"code"`
	} `json:"errors"`
	Summary map[string]int `json:"summary"`
}

func parseImportOutput(t *testing.T, out string) (lines []importOut, summary map[string]int) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var o importOut
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("import output line %q: %v", l, err)
		}
		if o.Summary != nil {
			summary = o.Summary
			continue
		}
		lines = append(lines, o)
	}
	return lines, summary
}

func TestUserImportCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("", "user", "add", "--user-id", "old", "--name", "Old")
	file := filepath.Join(t.TempDir(), "users.jsonl")
	input := `{"userID":"a1","userName":"A One","password":"password-a1","avatarURL":"https://a.example/1.png","extendedData":"x"}

{"userID":"old","userName":"New"}
not json
{"userID":"a2","colour":"blue"}
{"userID":"bad id","password":"sh0rt!"}
{"userID":"a3"} {"userID":"a4"}
{"userID":"a1"}
  {"userID":"a5"}  
`
	if err := os.WriteFile(file, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := c.run("", "user", "import", "--json", file)
	if code != 1 || !strings.Contains(errOut, "4 invalid") {
		t.Errorf("import with invalid lines: exit %d, stderr %q; want exit 1 naming 4 invalid lines", code, errOut)
	}
	lines, summary := parseImportOutput(t, out)
	type res struct {
		Line           int
		UserID, Status string
		Codes          string
	}
	var got []res
	for _, l := range lines {
		var codes []string
		for _, e := range l.Errors {
			codes = append(codes, e.Field+":"+e.Code)
		}
		got = append(got, res{l.Line, l.UserID, l.Status, strings.Join(codes, ",")})
	}
	want := []res{
		{1, "a1", "created", ""},
		{3, "old", "exists", ""},
		{4, "", "invalid", ":invalid_json"},
		{5, "", "invalid", ":invalid_json"},
		{6, "bad id", "invalid", "userID:invalid_user_id,password:invalid_password"},
		{7, "", "invalid", ":invalid_json"},
		{8, "a1", "exists", ""},
		{9, "a5", "created", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("import results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"created": 2, "exists": 2, "invalid": 4}, summary); diff != "" {
		t.Errorf("import summary (-want +got):\n%s", diff)
	}
	if strings.Contains(out+errOut, "password-a1") || strings.Contains(out+errOut, "sh0rt!") {
		t.Errorf("import output shows a password:\n%s\n%s", out, errOut)
	}
	if got := decodeUser(t, c.ok("", "user", "get", "old", "--json")); got.UserName != "Old" {
		t.Errorf("import changed an existing user: %+v", got)
	}
	if got := decodeUser(t, c.ok("", "user", "get", "a1", "--json")); !got.HasPassword || got.UserName != "A One" {
		t.Errorf("imported a1 = %+v", got)
	}

	// From standard input, several batches, as a table; then again, harmless.
	var sb strings.Builder
	const n = users.MaxImport*2 + 500
	for i := range n {
		fmt.Fprintf(&sb, `{"userID":"bulk%05d"}`+"\n", i)
	}
	out = c.ok(sb.String(), "user", "import", "-")
	if !strings.Contains(out, fmt.Sprintf("%d created, 0 existed, 0 invalid", n)) || strings.Count(out, "created") != n+1 {
		t.Errorf("import of %d users printed %d lines ending %q", n, strings.Count(out, "\n"), out[max(0, len(out)-200):])
	}
	out = c.ok(sb.String(), "user", "import", "-", "--json")
	if _, summary := parseImportOutput(t, out); summary["exists"] != n || summary["created"] != 0 {
		t.Errorf("import again: summary %v, want all %d existing", summary, n)
	}
}

// TestUserImportSurvivesSIGKILL runs "authsvc user import -" in a child
// process (this test binary, re-executed), feeds it users without end, kills
// it with SIGKILL after it has acknowledged a few batches, and checks that
// every user it acknowledged as created is in the database.
func TestUserImportSurvivesSIGKILL(t *testing.T) {
	if path := os.Getenv("AUTHSVC_TEST_IMPORT_CHILD_DB"); path != "" {
		// The child: import standard input until killed.
		getenv := func(string) string { return "" }
		err := run(context.Background(), []string{"authsvc", "user", "import", "--json", "--create", "--db", path, "-"},
			getenv, os.Stdin, os.Stdout, os.Stderr)
		fmt.Fprintln(os.Stderr, "child import ended:", err)
		return
	}
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	path := filepath.Join(t.TempDir(), "killed.db")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestUserImportSurvivesSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), "AUTHSVC_TEST_IMPORT_CHILD_DB="+path)
	var childErr bytes.Buffer
	cmd.Stderr = &childErr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The feeder kills the child once it has written the line killAt (0:
	// not yet known). The pipe holds the feeder back to the child's pace,
	// so that is a moment in the child's reading, inserting or committing.
	var written, killAt atomic.Int64
	go func() { // users without end, until the pipe breaks
		w := bufio.NewWriter(stdin)
		for i := int64(1); ; i++ {
			if _, err := fmt.Fprintf(w, `{"userID":"k%08d","userName":"Killed Import %d"}`+"\n", i, i); err != nil {
				return
			}
			written.Store(i)
			if at := killAt.Load(); at > 0 && i >= at {
				cmd.Process.Kill() // SIGKILL
			}
		}
	}()

	// Read acknowledgments until a few batches are in, then kill the
	// child: it is reading and importing the next batch.
	const killAfter = 3*users.MaxImport + 1
	var acked []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var o importOut
		if json.Unmarshal(sc.Bytes(), &o) != nil || o.Status == "" {
			continue
		}
		if o.Status != "created" {
			t.Fatalf("child reported %+v", o)
		}
		acked = append(acked, o.UserID)
		if len(acked) == killAfter {
			// A random line among the next two batches' worth.
			killAt.Store(written.Load() + 1 + rand.N(int64(2*users.MaxImport)))
		}
	}
	werr := cmd.Wait()
	stdin.Close()
	if len(acked) < killAfter {
		t.Fatalf("child acknowledged %d users, want %d; wait: %v; stderr:\n%s", len(acked), killAfter, werr, childErr.String())
	}
	if strings.Contains(childErr.String(), "child import ended") {
		t.Fatalf("the child finished instead of being killed:\n%s", childErr.String())
	}

	db := sqldbtest.OpenPath(t, path) // after SIGKILL
	var check string
	if err := db.Reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	store, err := users.NewStore(db, users.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range acked {
		if _, err := store.Get(context.Background(), id); err != nil {
			t.Fatalf("acknowledged user %s lost: %v", id, err)
		}
	}
	n, err := store.Count(context.Background())
	if err != nil || n < int64(len(acked)) || n%users.MaxImport != 0 {
		t.Errorf("Count() = %d, %v; want whole batches, at least the %d acknowledged", n, err, len(acked))
	}
	t.Logf("killed after %d acknowledged users; %d in the database", len(acked), n)
}

// TestUserCommandsNeverCreate: a mistyped path is an error that names it,
// not a new empty database; a database in a missing folder says so; and an
// older schema is left for "authsvc migrate".
func TestUserCommandsNeverCreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	c := &cli{t: t, env: map[string]string{"AUTHSVC_DB": missing}}
	for _, args := range [][]string{{"user", "list"}, {"user", "add", "--user-id", "a"}, {"user", "get", "a"}, {"migrate"}} {
		msg := c.fails(1, args...)
		if !strings.Contains(msg, missing+" does not exist (from AUTHSVC_DB); pass --create") {
			t.Errorf("authsvc %v on a missing file: %q, want it to name the file, AUTHSVC_DB and --create", args, msg)
		}
	}
	// A command without --create does not suggest it.
	if msg := c.fails(1, "zim", "sync", "--app-id", "1"); !strings.Contains(msg, missing+" does not exist (from AUTHSVC_DB)") || strings.Contains(msg, "--create") {
		t.Errorf("authsvc zim sync on a missing file: %q, want it to name the file and AUTHSVC_DB, not --create", msg)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a user command created %s: %v", missing, err)
	}
	c.env = nil
	if msg := c.fails(1, "user", "list", "--db", missing); !strings.Contains(msg, "(from --db)") {
		t.Errorf("user list --db of a missing file: %q, want it to name --db", msg)
	}
	if msg := c.fails(1, "user", "list", "--db", filepath.Join(dir, "nodir", "a.db")); !strings.Contains(msg, "directory "+filepath.Join(dir, "nodir")+" does not exist") {
		t.Errorf("user list in a missing directory: %q", msg)
	}
	// --create makes the file, migrated.
	c.ok("", "user", "add", "--user-id", "first", "--db", missing, "--create")
	if got := decodeUser(t, c.ok("", "user", "get", "first", "--db", missing, "--json")); got.UserID != "first" {
		t.Errorf("user get after user add --create = %+v", got)
	}

	// A database one migration behind: user commands refuse it unchanged.
	db := sqldbtest.OpenPath(t, missing)
	if _, err := db.Writer.Exec(`DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	behind, err := db.SchemaVersion(context.Background())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	msg := c.fails(1, "user", "list", "--db", missing)
	if !strings.Contains(msg, "first run: authsvc migrate --db ") || !strings.Contains(msg, fmt.Sprintf("schema version %d", behind)) {
		t.Errorf("user list on an older schema: %q, want it to ask for authsvc migrate", msg)
	}
	db, err = sqldb.OpenWith(context.Background(), missing, sqldb.Options{MustExist: true, NoMigrate: true})
	if !errors.Is(err, sqldb.ErrSchemaTooOld) {
		t.Errorf("after user list the schema is no longer behind: %v", err)
	}
	if db != nil {
		db.Close()
	}
}

// schema12 makes a SQLite database at schema version 12, the last with the
// audit trail in the database's file, holding one audit event, as a
// release before the move left it.
func schema12(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`}
	files, err := fs.Glob(migrations.SQLite(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for v, name := range files[:12] {
		b, err := fs.ReadFile(migrations.SQLite(), name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b), fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', 0)`, v+1, name))
	}
	stmts = append(stmts, `INSERT INTO audit_events (occurred_at, event, user_id) VALUES (1, 'user.created', 'old-user')`)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
}

// TestMigrateMovesTheTrail: "authsvc migrate" on a database of schema 12
// moves its audit trail into its own file and says where; the user
// commands then need that file, and say so when it is gone.
func TestMigrateMovesTheTrail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	schema12(t, path)
	c := &cli{t: t, env: map[string]string{"AUTHSVC_DB": path}}
	trail, _ := filepath.Abs(sqldb.AuditPath(path))
	if out := c.ok("", "migrate"); !strings.Contains(out, "moved the audit trail into "+trail+"\n") {
		t.Errorf("migrate printed %q, want where the trail went", out)
	}
	db, err := sqldb.OpenWith(context.Background(), path, sqldb.Options{MustExist: true, NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	var who string
	if err := db.Audit().Reader.QueryRow(`SELECT user_id FROM audit_events`).Scan(&who); err != nil || who != "old-user" {
		t.Errorf("the moved trail holds %q, %v, want old-user's event", who, err)
	}
	db.Close()
	if out := c.ok("", "migrate", "--json"); strings.TrimSpace(out) != fmt.Sprintf(`{"schemaVersion":%d,"auditFile":%q}`, schemaVersion(t), trail) {
		t.Errorf("migrate --json after the move printed %q", out)
	}

	if err := os.Remove(trail); err != nil {
		t.Fatal(err)
	}
	if msg := c.fails(1, "user", "list"); !strings.Contains(msg, "the audit trail's file "+sqldb.AuditPath(path)+", beside the database, does not exist") {
		t.Errorf("user list without the trail's file: %q", msg)
	}
	if _, err := os.Stat(trail); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("user list created the trail's file: %v", err)
	}
	// --create makes an empty one, and says so, once.
	const warning = "created a new, empty audit trail file "
	if _, errOut, code := c.run("", "user", "list", "--create"); code != 0 || !strings.Contains(errOut, warning+trail+";") {
		t.Errorf("user list --create without the trail's file: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := c.run("", "user", "list"); code != 0 || strings.Contains(errOut, warning) {
		t.Errorf("user list after the trail was created: exit %d, stderr %q", code, errOut)
	}
}

// schemaVersion is the version the SQLite migrations reach: one per file.
func schemaVersion(t *testing.T) int {
	t.Helper()
	files, err := fs.ReadDir(migrations.SQLite(), ".")
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}
