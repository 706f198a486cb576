package examples

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// zimTimeoutMs is connectZIM's default timeoutMs.
const zimTimeoutMs = 15000

// TestZIMLoginTimeout: when zim.login never settles, connectZIM gives up
// after its timeout, on the fake clock of testdata/fake-sdks.js: it logs ZIM
// out, so the SDK stops trying, and rejects with an error that says what
// happened. A login that succeeds leaves no timer behind.
func TestZIMLoginTimeout(t *testing.T) {
	t.Parallel()
	_, b := loggedIn(t)
	b.run(`FakeZIM.loginHangs = true;
		var outcome = 'pending';
		connectZIM(FakeZIM, client).then(() => { outcome = 'connected'; }, (err) => { outcome = 'error: ' + err.message; });`)
	if got := b.run(`outcome`).String(); got != "pending" {
		t.Fatalf("connectZIM with a login that hangs: %s before any time passed", got)
	}
	b.run(`advanceTimers(` + strconv.Itoa(zimTimeoutMs-1) + `)`)
	if got := b.run(`outcome`).String(); got != "pending" {
		t.Fatalf("connectZIM: %s before its timeout", got)
	}
	b.run(`advanceTimers(1)`)
	got := b.run(`outcome`).String()
	if want := "error: ZIM: no connection after 15 s; check the appID and the network"; got != want {
		t.Errorf("connectZIM after its timeout: %q, want %q", got, want)
	}
	var calls []zimCall
	b.get("FakeZIM.instance.calls", &calls)
	if len(calls) != 2 || calls[0].Method != "login" || calls[1].Method != "logout" {
		t.Errorf("ZIM calls: %+v, want login then logout", calls)
	}

	// A custom timeout, and a login that succeeds: no timer is left.
	_, b = loggedIn(t)
	b.await(`connectZIM(FakeZIM, client, 500)`)
	if n := b.run(`fakeTimers.pending.size`).ToInteger(); n != 0 {
		t.Errorf("%d timers left after a successful login", n)
	}
	b.run(`advanceTimers(1000)`)
	b.get("FakeZIM.instance.calls", &calls)
	if len(calls) != 1 || calls[0].Method != "login" {
		t.Errorf("ZIM calls after a successful login and the timeout's time: %+v", calls)
	}
}

// TestPageShowsZIMTimeout runs page.js on a minimal DOM: the user submits
// the form, ZIM never connects, and after the timeout the page's log shows
// the error instead of staying silent.
func TestPageShowsZIMTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.admin(t, "POST", "/v1/users", map[string]any{"userID": "alice", "password": testPassword}, nil)
	b := newBrowser(t)
	must(t, b.vm.Set("authsvcURL", srv.url))
	must(t, b.vm.Set("password", testPassword))
	b.run(`var ZIM = FakeZIM;
		FakeZIM.loginHangs = true;
		const field = (value) => ({ value });
		const logElement = { textContent: '' };
		const formElement = {
			elements: { server: field(authsvcURL), userID: field('alice'), password: field(password),
				appID: field(''), rtcServer: field(''), roomID: field('') },
			addEventListener(type, listener) { this['on' + type] = listener; },
		};
		var document = { getElementById: (id) => ({ connect: formElement, log: logElement })[id] };`)
	src, err := os.ReadFile("zim-web/page.js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.vm.RunScript("zim-web/page.js", string(src)); err != nil {
		t.Fatal(err)
	}
	b.run(`formElement.onsubmit({ preventDefault() {} })`)
	want := "authsvc: logged in as alice for 7200 s\n"
	if diff := cmp.Diff(want, b.run(`logElement.textContent`).String()); diff != "" {
		t.Fatalf("the page's log while ZIM connects (-want +got):\n%s", diff)
	}
	b.run(`advanceTimers(` + strconv.Itoa(zimTimeoutMs) + `)`)
	want += "error: ZIM: no connection after 15 s; check the appID and the network\n"
	if diff := cmp.Diff(want, b.run(`logElement.textContent`).String()); diff != "" {
		t.Errorf("the page's log after the timeout (-want +got):\n%s", diff)
	}
}

// TestZIMWebREADME holds the example's "Running it" steps to the code: the
// secret file the server is started with is created first, every variable
// is set before use, the page's origin is what the server allows, the
// authsvc URL is the page's default, and the user creation is accepted by a
// real server.
func TestZIMWebREADME(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile("zim-web/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, running, ok := strings.Cut(string(md), "## Running it")
	if !ok {
		t.Fatal("zim-web/README.md has no Running it section")
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(running, -1) {
		for _, line := range strings.Split(m[1], "\n") {
			script.WriteString(strings.TrimSpace(line) + "\n")
		}
	}
	steps := strings.ReplaceAll(script.String(), "\\\n", "")
	index := func(s string) int {
		t.Helper()
		i := strings.Index(steps, s)
		if i < 0 {
			t.Fatalf("the steps lack %q:\n%s", s, steps)
		}
		return i
	}

	secretFile := regexp.MustCompile(`AUTHSVC_SERVER_SECRET_FILE=(\S+)`).FindStringSubmatch(steps)
	if secretFile == nil {
		t.Fatal("the steps do not start authsvc with AUTHSVC_SERVER_SECRET_FILE")
	}
	if index("> "+secretFile[1]) > index("AUTHSVC_SERVER_SECRET_FILE=") {
		t.Errorf("%s is used before it is written", secretFile[1])
	}
	if index("mkdir -p "+strings.Split(secretFile[1], "/")[0]) > index("> "+secretFile[1]) {
		t.Errorf("the folder of %s is made after the file", secretFile[1])
	}
	if index("go build -o authsvc ./cmd/authsvc") > index("./authsvc serve") {
		t.Error("./authsvc runs before it is built")
	}
	for _, m := range regexp.MustCompile(`\$([A-Z_]+)`).FindAllStringSubmatchIndex(steps, -1) {
		name := steps[m[2]:m[3]]
		if set := strings.Index(steps, "\n"+name+"="); set < 0 || set > m[0] {
			t.Errorf("$%s is used before it is set", name)
		}
	}

	origin := regexp.MustCompile(`--cors-origins (\S+)`).FindStringSubmatch(steps)
	served := regexp.MustCompile(`python3 -m http.server (\d+) --bind (\S+)`).FindStringSubmatch(steps)
	if origin == nil || served == nil || origin[1] != "http://"+served[2]+":"+served[1] || origin[1] != pageOrigin {
		t.Errorf("the server allows %v, the page is served from %v; the tests use %s", origin, served, pageOrigin)
	}
	if index("cd examples/zim-web") > index("npm install") {
		t.Error("npm install runs outside the example's folder")
	}
	html, err := os.ReadFile("zim-web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	pkg := regexp.MustCompile(`npm install (?:--\S+ )*(\S+)`).FindStringSubmatch(steps)
	if pkg == nil || !strings.Contains(string(html), `src="node_modules/`+pkg[1]+`/`) {
		t.Errorf("npm installs %v, which index.html does not load", pkg)
	}
	url := regexp.MustCompile(`curl -s -X POST (http://\S+)/v1/users`).FindStringSubmatch(steps)
	if url == nil || !strings.Contains(string(html), `name="server" value="`+url[1]+`"`) {
		t.Errorf("the steps call authsvc at %v, which is not the page's default authsvc URL", url)
	}
	if url != nil && url[1] != "http://127.0.0.1:8080" {
		t.Errorf("the steps call authsvc at %s; serve --dev listens on http://127.0.0.1:8080", url[1])
	}

	// The user the steps create, created for real.
	body := regexp.MustCompile(`-d '([^']*)'`).FindStringSubmatch(steps)
	if body == nil {
		t.Fatal("the user creation has no body")
	}
	var user map[string]any
	if err := json.Unmarshal([]byte(body[1]), &user); err != nil {
		t.Fatalf("the user creation's body %s: %v", body[1], err)
	}
	newServer(t).admin(t, "POST", "/v1/users", user, nil)
	if user["userID"] != "alice" || !strings.Contains(running, "log in as alice with the password\n   `"+user["password"].(string)+"`") {
		t.Errorf("the steps create %v, but step 4 logs in as someone else", user)
	}
}

// TestLogOut: logOut ends the session at authsvc, so its token is refused
// from then on, even by another client that holds it.
func TestLogOut(t *testing.T) {
	t.Parallel()
	_, b := loggedIn(t)
	b.run(`var ended = client.accessToken`)
	b.await(`client.logOut()`)
	if diff := cmp.Diff([]string{"POST /v1/sessions 200", "DELETE /v1/sessions/current 204"}, b.paths()); diff != "" {
		t.Fatalf("calls to authsvc (-want +got):\n%s", diff)
	}
	if got := b.run(`client.accessToken`).String(); got != "" {
		t.Errorf("accessToken after logOut = %q, want none", got)
	}
	got := b.await(`var other = new AuthsvcClient(authsvcURL); other.accessToken = ended;
		other.token().then(() => 'resolved', (err) => err.status + ' ' + err.code)`).String()
	if got != "401 unauthorized" {
		t.Errorf("a token request with the ended session: %s, want 401 unauthorized", got)
	}
	// Logging out with no session makes no call.
	b.await(`client.logOut()`)
	if n := len(b.exchanges); n != 3 {
		t.Errorf("calls after a second logOut: %q", b.paths())
	}
}
