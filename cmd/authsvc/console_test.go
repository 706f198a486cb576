package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"authsvc/internal/console"
	"authsvc/internal/console/browsertest"
	"authsvc/internal/token"
)

// TestServeConsole: serve has the admin console at /console/ unless
// AUTHSVC_CONSOLE=false or --console=false, which leave it a 404.
func TestServeConsole(t *testing.T) {
	t.Parallel()
	client := &http.Client{Timeout: 10 * time.Second}
	status := func(url string) (int, http.Header) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"default", nil, nil, http.StatusOK},
		{"env off", map[string]string{"AUTHSVC_CONSOLE": "false"}, nil, http.StatusNotFound},
		{"flag off", nil, []string{"--console=false"}, http.StatusNotFound},
		{"flag on wins over env", map[string]string{"AUTHSVC_CONSOLE": "false"}, []string{"--console"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := productionEnv(t)
			for k, v := range tt.env {
				env[k] = v
			}
			srv := startServer(t, env, tt.args...)
			got, h := status(srv.url + "/console/")
			if got != tt.want {
				t.Fatalf("GET /console/ = %d, want %d", got, tt.want)
			}
			csp := h.Get("Content-Security-Policy")
			if tt.want == http.StatusOK && csp == "" {
				t.Error("GET /console/ has no Content-Security-Policy")
			}
			if tt.want == http.StatusNotFound && csp != "" {
				t.Errorf("a console that is off still sets its policy %q", csp)
			}
		})
	}
}

// TestServeDevNamesConsole: the dev banner points at the console when it
// is on, and not when it is off.
func TestServeDevNamesConsole(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		env := map[string]string{"AUTHSVC_DB": filepath.Join(t.TempDir(), "dev.db")}
		if !on {
			env["AUTHSVC_CONSOLE"] = "false"
		}
		srv := startServer(t, env, "--dev")
		if got := strings.Contains(srv.stdout.String(), srv.url+"/console/"); got != on {
			t.Errorf("console on %v: the dev banner names %s/console/: %v\n%s", on, srv.url, got, srv.stdout)
		}
	}
}

// consoleUserID has every character of the ZIM alphabet that a URL path
// would misread unless percent-encoded.
const consoleUserID = "c#?%[x]{y}|^<>"

// xssName would run script if the console ever parsed data as HTML.
const xssName = "<img src=x onerror=alert(1)>"

// TestConsole drives the admin console in a real headless Chromium against a
// server started by run: every screen once, through the page's own controls,
// with the API's answers checked from Go as well.
func TestConsole(t *testing.T) {
	t.Parallel()
	env := productionEnv(t)
	srv := startServer(t, env)
	ctx := browsertest.New(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second) // a guard against a hung page only
	defer cancel()
	base := srv.url

	// Any dialog (alert from injected script) or CSP violation fails the test.
	var mu sync.Mutex
	var dialogs []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			mu.Lock()
			dialogs = append(dialogs, d.Message)
			mu.Unlock()
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("signin-key")))
	eval[bool](t, ctx, `window.cspViolations = []; document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI)); true`)

	t.Run("wrong key", func(t *testing.T) {
		do(t, ctx,
			chromedp.SendKeys(chromedp.ID("signin-key"), "not-a-key"),
			chromedp.Click(chromedp.CSS("#signin-form button")),
		)
		alert := poll[string](t, ctx, `!document.getElementById('alert').hidden && document.getElementById('alert').textContent`)
		if !strings.Contains(alert, "bearer credential") {
			t.Errorf("alert = %q, want the problem's detail", alert)
		}
		if got := eval[bool](t, ctx, `sessionStorage.length === 0`); !got {
			t.Error("a refused key was kept in sessionStorage")
		}
	})

	t.Run("sign in", func(t *testing.T) {
		do(t, ctx,
			fill("signin-key", ""),
			chromedp.SendKeys(chromedp.ID("signin-key"), e2eAdminKey+kb.Enter), // the keyboard alone signs in
			chromedp.WaitVisible(chromedp.ID("screen-overview")),
		)
		if got := eval[string](t, ctx, `sessionStorage.getItem('authsvc.adminKey')`); got != e2eAdminKey {
			t.Errorf("sessionStorage key = %q, want the admin key", got)
		}
		if got := eval[int](t, ctx, `localStorage.length`); got != 0 {
			t.Errorf("localStorage has %d items, want none", got)
		}
		apps := poll[string](t, ctx, `document.querySelector('#overview-apps tbody').textContent`)
		if !strings.Contains(apps, "1234567890") || !strings.Contains(apps, "gcm") {
			t.Errorf("overview apps = %q, want appID 1234567890 with gcm", apps)
		}
	})

	t.Run("create user", func(t *testing.T) {
		do(t, ctx,
			show("users"),
			chromedp.WaitVisible(chromedp.ID("screen-users")),
			chromedp.Click(chromedp.CSS("#users-create-box summary")),
			chromedp.SendKeys(chromedp.ID("create-userid"), consoleUserID),
			chromedp.SendKeys(chromedp.ID("create-username"), xssName),
			chromedp.SendKeys(chromedp.ID("create-password"), e2ePassword),
			chromedp.Click(chromedp.CSS("#users-create button")),
		)
		poll[bool](t, ctx, `document.getElementById('status').textContent.startsWith('Created user')`)
		var u struct{ UserID, UserName string }
		call(t, "GET", srv.url+"/v1/users/"+pathEscape(consoleUserID), e2eAdminKey, nil, 200, &u)
		if u.UserID != consoleUserID || u.UserName != xssName {
			t.Errorf("created %+v", u)
		}
		// And one without a userID: the service assigns it.
		do(t, ctx,
			chromedp.Click(chromedp.CSS("#users-create-box summary")),
			chromedp.Click(chromedp.CSS("#users-create-box summary")),
			chromedp.SendKeys(chromedp.ID("create-username"), "Assigned"),
			quiet,
			chromedp.Click(chromedp.CSS("#users-create button")),
		)
		id := poll[string](t, ctx, `document.getElementById('status').textContent.match(/^Created user (\S+)\.$/)?.[1] || ''`)
		if id == consoleUserID {
			t.Errorf("the second user got %q, want an assigned userID", id)
		}
		call(t, "GET", srv.url+"/v1/users/"+pathEscape(id), e2eAdminKey, nil, 200, nil)
	})

	t.Run("find by prefix", func(t *testing.T) {
		do(t, ctx,
			fill("users-prefix", "c#?%["),
			chromedp.Click(chromedp.CSS("#users-search button")),
		)
		ids := poll[[]string](t, ctx, `(() => { const ids = [...document.querySelectorAll('#users-table tbody td.mono')].map((td) => td.textContent); return ids.length === 1 && ids; })()`)
		if len(ids) != 1 || ids[0] != consoleUserID {
			t.Errorf("prefix search found %q, want only %q", ids, consoleUserID)
		}
		total := eval[string](t, ctx, `document.getElementById('users-total').textContent`)
		if !strings.HasPrefix(total, "2 users") {
			t.Errorf("total = %q, want 2 users in the registry", total)
		}
	})

	t.Run("user names are text", func(t *testing.T) {
		name := eval[string](t, ctx, `document.querySelector('#users-table tbody tr td:nth-child(2)').textContent`)
		if name != xssName {
			t.Errorf("userName cell = %q, want %q", name, xssName)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('main img').length`); n != 0 {
			t.Errorf("%d <img> elements in the page, want none", n)
		}
	})

	t.Run("edit and set password", func(t *testing.T) {
		do(t, ctx, chromedp.Click(chromedp.CSS("#users-table tbody button")))
		openDetail(t, ctx, consoleUserID)
		do(t, ctx,
			fill("edit-extended", `{"tier":"gold"}`),
			fill("edit-avatar", "https://example.com/a.png"),
			quiet,
			chromedp.Click(chromedp.CSS("#detail-edit button")),
		)
		poll[bool](t, ctx, `document.getElementById('status').textContent === 'Saved.'`)
		var u struct{ UserName, AvatarURL, ExtendedData string }
		call(t, "GET", srv.url+"/v1/users/"+pathEscape(consoleUserID), e2eAdminKey, nil, 200, &u)
		if u.UserName != xssName || u.AvatarURL != "https://example.com/a.png" || u.ExtendedData != `{"tier":"gold"}` {
			t.Errorf("after the edit the user is %+v", u)
		}
		const newPassword = "a new password that is long"
		do(t, ctx, chromedp.SendKeys(chromedp.ID("edit-password"), newPassword), quiet, chromedp.Click(chromedp.CSS("#detail-password button")))
		poll[bool](t, ctx, `document.getElementById('status').textContent.startsWith('Password set')`)
		call(t, "POST", srv.url+"/v1/sessions", "", map[string]any{"userID": consoleUserID, "password": e2ePassword}, 401, nil)
		call(t, "POST", srv.url+"/v1/sessions", "", map[string]any{"userID": consoleUserID, "password": newPassword}, 200, nil)
		call(t, "PATCH", srv.url+"/v1/users/"+pathEscape(consoleUserID), e2eAdminKey, map[string]any{"password": e2ePassword}, 200, nil)
	})

	t.Run("disable refuses the user's credentials", func(t *testing.T) {
		var session struct{ AccessToken string }
		call(t, "POST", srv.url+"/v1/sessions", "", map[string]any{"userID": consoleUserID, "password": e2ePassword}, 200, &session)
		call(t, "POST", srv.url+"/v1/token", session.AccessToken, nil, 200, nil)
		do(t, ctx,
			chromedp.Click(chromedp.CSS("#users-table tbody button")),
		)
		openDetail(t, ctx, consoleUserID)
		do(t, ctx, chromedp.Click(chromedp.ID("detail-toggle")))
		poll[bool](t, ctx, `document.getElementById('detail-toggle').textContent === 'Enable' &&
			document.querySelector('#users-table tbody td:nth-child(3)').textContent === 'disabled'`)
		call(t, "POST", srv.url+"/v1/token", session.AccessToken, nil, 401, nil)
		call(t, "POST", srv.url+"/v1/token", e2eAdminKey, map[string]any{"userID": consoleUserID}, 403, nil)
		// The test token screen shows the refusal's detail.
		do(t, ctx,
			show("mint"),
			chromedp.WaitVisible(chromedp.ID("screen-mint")),
			chromedp.SendKeys(chromedp.ID("mint-userid"), consoleUserID),
			chromedp.Click(chromedp.CSS("#mint-form > button")),
		)
		alert := poll[string](t, ctx, `!document.getElementById('alert').hidden && document.getElementById('alert').textContent`)
		if !strings.Contains(alert, "user_disabled") {
			t.Errorf("alert = %q, want code user_disabled", alert)
		}
		call(t, "PATCH", srv.url+"/v1/users/"+pathEscape(consoleUserID), e2eAdminKey, map[string]any{"disabled": false}, 200, nil)
	})

	t.Run("import", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "users.csv")
		invalid := writeImportCSV(t, file, 1000)
		download := filepath.Join(dir, "downloads")
		do(t, ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: download, EventsEnabled: ptr(true)})
			return err
		}))
		want := fmt.Sprintf("1000 of 1000 rows done · %d created · 0 already existed · %d invalid", 1000-invalid, invalid)
		rerun := fmt.Sprintf("1000 of 1000 rows done · 0 created · %d already existed · %d invalid", 1000-invalid, invalid)
		for _, w := range []string{want, rerun} {
			do(t, ctx,
				show("import"),
				chromedp.WaitVisible(chromedp.ID("screen-import")),
				chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{file}),
				quiet,
				chromedp.Click(chromedp.ID("import-start")),
			)
			got := poll[string](t, ctx, `document.getElementById('status').textContent === 'Import finished.' && document.getElementById('import-summary').textContent`)
			if got != w {
				t.Errorf("summary = %q, want %q", got, w)
			}
			if w == want {
				screenshot(t, ctx, "console-import.png")
			}
			p := eval[[]float64](t, ctx, `[document.getElementById('import-progress').value, document.getElementById('import-progress').max]`)
			if p[0] != 1000 || p[1] != 1000 {
				t.Errorf("progress = %v of %v, want 1000 of 1000", p[0], p[1])
			}
		}
		rows := eval[int](t, ctx, `document.querySelectorAll('#import-results tbody tr.st-invalid').length`)
		if rows != invalid {
			t.Errorf("%d invalid rows shown, want %d", rows, invalid)
		}

		// The report of failed rows downloads through a[download].
		done := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
		do(t, ctx, chromedp.Click(chromedp.ID("import-report")))
		for ev, err := range done {
			if err != nil {
				t.Fatal(err)
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				break
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("download canceled")
			}
		}
		b, err := os.ReadFile(filepath.Join(download, "import-failed-rows.csv"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			t.Fatalf("report is not CSV: %v\n%s", err, b)
		}
		if len(recs) != invalid+1 || recs[0][0] != "line" {
			t.Errorf("report has %d records, want a header and %d rows:\n%s", len(recs), invalid, b)
		}
		if strings.Contains(string(b), e2ePassword) {
			t.Error("the report holds passwords")
		}
		var list struct{ Total int }
		call(t, "GET", srv.url+"/v1/users?limit=1", e2eAdminKey, nil, 200, &list)
		if want := 2 + 1000 - invalid; list.Total != want {
			t.Errorf("registry has %d users, want %d", list.Total, want)
		}
	})

	t.Run("import JSON Lines", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "users.jsonl")
		lines := `{"userID":"jl-1","userName":"JSON Lines"}` + "\n" +
			`{"userID":"jl-2","role":"admin"}` + "\n" +
			"not json\n" +
			`{"userID":"jl-3","password":"short"}` + "\n"
		if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
		do(t, ctx,
			chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{file}),
			quiet,
			chromedp.Click(chromedp.ID("import-start")),
		)
		got := poll[string](t, ctx, `document.getElementById('status').textContent === 'Import finished.' && document.getElementById('import-summary').textContent`)
		if want := "4 of 4 rows done · 1 created · 0 already existed · 3 invalid"; got != want {
			t.Errorf("summary = %q, want %q", got, want)
		}
		reasons := eval[string](t, ctx, `document.querySelector('#import-results tbody').textContent`)
		for _, want := range []string{`unknown field "role"`, "not JSON", "password"} {
			if !strings.Contains(reasons, want) {
				t.Errorf("results %q lack %q", reasons, want)
			}
		}
		call(t, "GET", srv.url+"/v1/users/jl-1", e2eAdminKey, nil, 200, nil)
	})

	t.Run("users paging", func(t *testing.T) {
		do(t, ctx,
			show("users"),
			chromedp.WaitVisible(chromedp.ID("screen-users")),
			fill("users-prefix", "imp-"),
			chromedp.Click(chromedp.CSS("#users-search button")),
		)
		firstID := `document.querySelector('#users-table tbody td.mono').textContent`
		if got := poll[string](t, ctx, firstID+`.startsWith('imp-') && `+firstID); got != "imp-0000" {
			t.Fatalf("page 1 starts at %q, want imp-0000", got)
		}
		var want struct {
			Users []struct{ UserID string }
		}
		call(t, "GET", srv.url+"/v1/users?prefix=imp-&limit=51", e2eAdminKey, nil, 200, &want)
		do(t, ctx, chromedp.Click(chromedp.ID("users-next")))
		if got := poll[string](t, ctx, `document.getElementById('users-page').textContent === 'Page 2' && `+firstID); got != want.Users[50].UserID {
			t.Errorf("page 2 starts at %q, want %q", got, want.Users[50].UserID)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("users-prev")))
		if got := poll[string](t, ctx, `document.getElementById('users-page').textContent === 'Page 1' && `+firstID); got != "imp-0000" {
			t.Errorf("back on page 1 at %q, want imp-0000", got)
		}
	})

	t.Run("audit filter", func(t *testing.T) {
		do(t, ctx,
			show("audit"),
			chromedp.WaitVisible(chromedp.ID("screen-audit")),
			chromedp.SendKeys(chromedp.ID("audit-userid"), consoleUserID),
			fill("audit-event", "user.disabled"),
			chromedp.Click(chromedp.CSS("#audit-form button")),
		)
		rows := poll[[]string](t, ctx, `(() => { const r = [...document.querySelectorAll('#audit-table tbody tr')].map((tr) => tr.children[1].textContent + ' ' + tr.children[2].textContent); return r.length && !r[0].startsWith('No') && r[0].startsWith('user.disabled') && r; })()`)
		if len(rows) != 1 || rows[0] != "user.disabled "+consoleUserID {
			t.Errorf("audit rows = %q, want one user.disabled of %s", rows, consoleUserID)
		}

		// The imports made more user.imported events than a page holds.
		do(t, ctx,
			fill("audit-userid", ""),
			fill("audit-event", "user.imported"),
			chromedp.Click(chromedp.CSS("#audit-form button")),
		)
		const ids = `[...document.querySelectorAll('#audit-table tbody tr')].map((tr) => tr.children[2].textContent)`
		page1 := poll[[]string](t, ctx, `document.querySelector('#audit-table tbody tr td:nth-child(2)')?.textContent === 'user.imported' && `+ids)
		do(t, ctx, chromedp.Click(chromedp.ID("audit-next")))
		page2 := poll[[]string](t, ctx, `document.getElementById('audit-page').textContent === 'Page 2' && `+ids)
		if len(page1) != 50 || len(page2) != 50 {
			t.Fatalf("pages of %d and %d events, want 50 each", len(page1), len(page2))
		}
		// Imported in file order, so newest first is descending userIDs.
		all := append(page1, page2...)
		if !slices.IsSortedFunc(all, func(a, b string) int { return strings.Compare(b, a) }) || slices.Contains(page1, page2[0]) {
			t.Errorf("two pages of user.imported are not newest first without repeats: %q", all)
		}
	})

	t.Run("token inspector", func(t *testing.T) {
		var valid struct{ Token string }
		call(t, "POST", srv.url+"/v1/token", e2eAdminKey, map[string]any{"userID": consoleUserID}, 200, &valid)
		key, err := token.NewKey([]byte(e2eSecret))
		if err != nil {
			t.Fatal(err)
		}
		expired, _, err := key.Mint(rand.Reader, time.Now().Add(-2*time.Hour), token.Params{AppID: 1234567890, UserID: consoleUserID, EffectiveTime: 3600})
		if err != nil {
			t.Fatal(err)
		}
		cbc, _, err := key.Mint(rand.Reader, time.Now(), token.Params{AppID: 1234567890, UserID: consoleUserID, EffectiveTime: 3600, Variant: token.CBC})
		if err != nil {
			t.Fatal(err)
		}
		// One bit of the ciphertext flipped: still well-formed, no longer authentic.
		raw, err := base64.StdEncoding.DecodeString(valid.Token[2:])
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)-20] ^= 1
		tampered := "04" + base64.StdEncoding.EncodeToString(raw)
		tests := []struct {
			name, token, valid, reason, text string
			warning                          bool
		}{
			{"valid", valid.Token, "true", "", "expires in", false},
			{"expired", expired, "false", "expired", "6000106", false},
			{"expired, RTC code", expired, "false", "expired", "1002078", false},
			{"tampered", tampered, "false", "bad_secret", "6000103", false},
			{"cbc", cbc, "true", "", "expires in", true},
		}
		do(t, ctx, show("inspect"), chromedp.WaitVisible(chromedp.ID("screen-inspect")))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				do(t, ctx,
					fill("inspect-token", tt.token),
					chromedp.Evaluate[chromedp.Void](`document.getElementById('inspect-verdict').dataset.valid = ''`),
					chromedp.Click(chromedp.CSS("#inspect-form button")),
				)
				got := poll[[]string](t, ctx, `(() => { const v = document.getElementById('inspect-verdict'); return v.dataset.valid && [v.dataset.valid, v.dataset.reason, document.getElementById('inspect-result').textContent, String(document.getElementById('inspect-warning').hidden)]; })()`)
				if got[0] != tt.valid || got[1] != tt.reason {
					t.Errorf("verdict valid=%s reason=%q, want valid=%s reason=%q", got[0], got[1], tt.valid, tt.reason)
				}
				if !strings.Contains(got[2], tt.text) {
					t.Errorf("result %q lacks %q", got[2], tt.text)
				}
				if (got[3] == "false") != tt.warning {
					t.Errorf("warning shown = %v, want %v", got[3] == "false", tt.warning)
				}
			})
		}
	})

	t.Run("test token", func(t *testing.T) {
		do(t, ctx,
			show("mint"),
			chromedp.WaitVisible(chromedp.ID("screen-mint")),
			fill("mint-userid", consoleUserID),
			chromedp.Click(chromedp.ID("mint-kind-rtc")),
			chromedp.SendKeys(chromedp.ID("mint-roomid"), "room-1"),
			chromedp.Click(chromedp.ID("mint-publish")),
			chromedp.Click(chromedp.CSS("#mint-form > button")),
		)
		tok := poll[string](t, ctx, `!document.getElementById('mint-result').hidden && document.getElementById('mint-token').value`)
		var v struct {
			Valid  bool
			UserID string
			Room   *struct {
				RoomID         string
				Login, Publish bool
			}
		}
		call(t, "POST", srv.url+"/v1/token/verify", e2eAdminKey, map[string]any{"token": tok}, 200, &v)
		if !v.Valid || v.UserID != consoleUserID || v.Room == nil || v.Room.RoomID != "room-1" || !v.Room.Login || !v.Room.Publish {
			t.Errorf("minted token verifies as %+v", v)
		}
		do(t, ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			for _, name := range []string{"clipboard-read", "clipboard-write"} {
				if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
					Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: base}); err != nil {
					return err
				}
			}
			return nil
		}), quiet, chromedp.Click(chromedp.ID("mint-copy")))
		poll[bool](t, ctx, `document.getElementById('status').textContent === 'Copied.'`)
		copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if copied != tok {
			t.Errorf("clipboard holds %q, want the minted token", copied)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("mint-inspect")), chromedp.WaitVisible(chromedp.ID("screen-inspect")))
		if got := poll[string](t, ctx, `document.getElementById('inspect-verdict').dataset.valid`); got != "true" {
			t.Errorf("inspecting the minted token: valid = %s", got)
		}
		screenshot(t, ctx, "console-token.png")
	})

	t.Run("delete names the user", func(t *testing.T) {
		do(t, ctx,
			show("users"),
			chromedp.WaitVisible(chromedp.ID("screen-users")),
			fill("users-prefix", ""),
			chromedp.Click(chromedp.CSS("#users-search button")),
		)
		poll[bool](t, ctx, `document.querySelectorAll('#users-table tbody td.mono').length === 50`)
		screenshot(t, ctx, "console-users.png")
		do(t, ctx,
			fill("users-prefix", "c#"),
			chromedp.Click(chromedp.CSS("#users-search button")),
		)
		poll[bool](t, ctx, `document.querySelectorAll('#users-table tbody td.mono').length === 1`)
		do(t, ctx,
			chromedp.Click(chromedp.CSS("#users-table tbody button")),
		)
		openDetail(t, ctx, consoleUserID)
		do(t, ctx,
			chromedp.Click(chromedp.ID("detail-delete")),
			chromedp.WaitVisible(chromedp.ID("delete-dialog")),
		)
		if got := eval[string](t, ctx, `document.getElementById('delete-name').textContent`); got != consoleUserID {
			t.Errorf("confirmation names %q, want %q", got, consoleUserID)
		}
		// Cancel keeps the user; only the named confirmation deletes.
		do(t, ctx, chromedp.Click(chromedp.ID("delete-cancel")), chromedp.WaitNotVisible(chromedp.ID("delete-dialog")))
		call(t, "GET", srv.url+"/v1/users/"+pathEscape(consoleUserID), e2eAdminKey, nil, 200, nil)
		do(t, ctx, chromedp.Click(chromedp.ID("detail-delete")), chromedp.WaitVisible(chromedp.ID("delete-dialog")))
		do(t, ctx, quiet, chromedp.Click(chromedp.ID("delete-confirm")))
		poll[bool](t, ctx, `document.getElementById('status').textContent.startsWith('Deleted user')`)
		call(t, "GET", srv.url+"/v1/users/"+pathEscape(consoleUserID), e2eAdminKey, nil, 404, nil)
	})

	t.Run("every control has a name", func(t *testing.T) {
		unnamed := eval[[]string](t, ctx, `[...document.querySelectorAll('input, select, textarea, button')].filter((e) =>
			!(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim())).map((e) => e.tagName + '#' + e.id)`)
		if len(unnamed) > 0 {
			t.Errorf("controls without a label or accessible name: %q", unnamed)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('[style], [onclick], [onload], [onerror]').length`); n != 0 {
			t.Errorf("%d elements with inline style or handlers", n)
		}
	})

	t.Run("narrow screen", func(t *testing.T) {
		do(t, ctx, chromedp.EmulateViewport(360, 740))
		defer do(t, ctx, chromedp.EmulateViewport(1280, 900))
		for _, screen := range []string{"overview", "users", "import", "audit", "inspect", "mint"} {
			do(t, ctx, show(screen), chromedp.WaitVisible(chromedp.ID("screen-"+screen)))
			if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 360 {
				wide := eval[[]string](t, ctx, `[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 360 && !e.closest('.scroll td, .scroll th')).map((e) => e.tagName + '#' + e.id + '.' + e.className)`)
				t.Errorf("%s is %d px wide at a 360 px viewport: %q", screen, w, wide)
			}
		}
	})

	t.Run("sign out", func(t *testing.T) {
		do(t, ctx, chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("screen-signin")))
		if n := eval[int](t, ctx, `sessionStorage.length`); n != 0 {
			t.Errorf("sessionStorage holds %d items after sign-out", n)
		}
		do(t, ctx, show("users"), chromedp.WaitVisible(chromedp.ID("screen-signin")))
	})

	if v := eval[[]string](t, ctx, `window.cspViolations || []`); len(v) > 0 {
		t.Errorf("CSP violations: %q", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialogs) > 0 {
		t.Errorf("the page opened dialogs: %q", dialogs)
	}
}

// writeImportCSV writes n rows, every 50th one invalid in a different way,
// and returns how many are invalid.
func writeImportCSV(t *testing.T, path string, n int) int {
	t.Helper()
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"userID", "userName", "password", "avatarURL", "extendedData"})
	invalid := 0
	for i := range n {
		row := []string{fmt.Sprintf("imp-%04d", i), fmt.Sprintf("Imported, \"%d\"", i), "", "", "line one\nline two"}
		if i%100 == 0 { // a few: each password costs a memory-hard hash
			row[2] = e2ePassword
		}
		switch {
		case i%50 == 7:
			row[0] = "has space " + fmt.Sprint(i)
		case i%50 == 17:
			row[2] = "short"
		case i%50 == 27:
			row[3] = "ftp://example.com/a.png"
		default:
			invalid--
		}
		invalid++
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return invalid
}

func pathEscape(s string) string {
	return strings.NewReplacer("%", "%25", "#", "%23", "?", "%3F", "[", "%5B", "]", "%5D", "{", "%7B", "}", "%7D",
		"|", "%7C", "^", "%5E", "<", "%3C", ">", "%3E").Replace(s)
}

// quiet empties the status line, so that a wait for the next message does
// not match the last one.
var quiet = chromedp.Evaluate[chromedp.Void](`document.getElementById('status').textContent = ''`)

// show switches screens as a click on the nav would: a same-document
// navigation, for which chromedp.Navigate would wait for a load that never
// comes.
func show(screen string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`location.hash = ` + jsString("#"+screen))
}

// fill replaces an input's value and tells the page, as typing would.
func fill(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => { const e = document.getElementById(` + jsString(id) + `); e.value = ` + jsString(value) + `;
		e.dispatchEvent(new Event('input', { bubbles: true })); e.dispatchEvent(new Event('change', { bubbles: true })); })()`)
}

// openDetail waits until the user panel shows userID.
func openDetail(t testing.TB, ctx context.Context, userID string) {
	t.Helper()
	poll[bool](t, ctx, `!document.getElementById('user-detail').hidden && document.getElementById('detail-id').textContent === `+jsString(userID))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func ptr[T any](v T) *T { return &v }

func do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// poll waits, on DOM changes, until expr is truthy and returns its value.
func poll[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		alert, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('alert').textContent`))
		t.Fatalf("waiting for %s: %v (alert: %q)", expr, err, alert)
	}
	return v
}

// screenshot writes the page to $AUTHSVC_SCREENSHOTS/name when that is set.
func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("AUTHSVC_SCREENSHOTS")
	if dir == "" {
		return
	}
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzConsoleCSV holds the console's CSV parser (ui/csv.js, run in the
// browser) to encoding/csv: the same records for what encoding/csv reads,
// an error for what it refuses. Files with a lone CR, which the two read
// differently, are left out; a quoted CRLF, which encoding/csv turns into LF,
// is compared as LF.
func FuzzConsoleCSV(f *testing.F) {
	for _, s := range []string{
		"userID,userName\na,b\n",
		"userID,userName\r\n\"a,1\",\"say \"\"hi\"\"\"\r\n",
		"a,\"multi\nline\",c\n",
		"a,b\nc",
		"\"unterminated\n",
		"a\"b,c\n",
		"\"a\"b,c\n",
		",,\n,\n",
		"ünï,☃\n",
		"x\n\n\ny\n",
	} {
		f.Add(s)
	}
	srv := httptest.NewServer(console.Handler()) // the parser needs the page, not the API
	defer srv.Close()
	ctx := browsertest.New(f)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	do(f, ctx, chromedp.Navigate(srv.URL+"/console/"), chromedp.WaitVisible(chromedp.ID("signin-key")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`import('./csv.js').then((m) => { window.csvModule = m; return true; })`, chromedp.EvalAwaitPromise)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\r") {
			t.Skip()
		}
		r := csv.NewReader(strings.NewReader(s))
		r.FieldsPerRecord = -1
		want, wantErr := r.ReadAll()
		got := eval[struct {
			Records [][]string
			Err     string
		}](t, ctx, `(() => { try { return { Records: csvModule.parseCSV(`+jsString(s)+`), Err: '' }; }
			catch (e) { return { Records: [], Err: String(e) }; } })()`)
		if wantErr != nil {
			if got.Err == "" {
				t.Fatalf("parseCSV(%q) = %q, want an error like encoding/csv's %v", s, got.Records, wantErr)
			}
			return
		}
		if got.Err != "" {
			t.Fatalf("parseCSV(%q) failed: %s; encoding/csv reads %q", s, got.Err, want)
		}
		if len(want) == 0 {
			want = [][]string{}
		}
		for _, rec := range got.Records {
			for i := range rec {
				rec[i] = strings.ReplaceAll(rec[i], "\r\n", "\n")
			}
		}
		if !slices.EqualFunc(got.Records, want, slices.Equal) {
			t.Fatalf("parseCSV(%q) = %q, want %q", s, got.Records, want)
		}
	})
}
