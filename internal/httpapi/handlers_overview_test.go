package httpapi

import (
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/console"
	"authsvc/internal/token"
)

func TestOverview(t *testing.T) {
	t.Parallel()
	previous := "fedcba9876543210fedcba9876543210"
	legacy := "abcdefabcdefabcdefabcdefabcdefab"
	e := newEnv(t, func(s *envSetup) {
		keys := func(secrets ...string) []*token.Key {
			var ks []*token.Key
			for _, sec := range secrets {
				k, err := token.NewKey([]byte(sec))
				if err != nil {
					t.Fatal(err)
				}
				ks = append(ks, k)
			}
			return ks
		}
		s.creds.Apps = append(s.creds.Apps, apps.App{
			ID: 42, Keys: keys(legacy), Variant: token.CBC,
			TTL: apps.TTLBounds{Default: 10 * time.Minute, Min: 31 * time.Second, Max: 2 * time.Hour},
		})
		s.creds.Apps[0].Keys = keys(testSecret, previous)
	})
	e.createUser("alice")
	e.createUser("bob")
	e.do("POST", "/v1/users", testAdminKey, map[string]any{}).want(t, http.StatusCreated) // an assigned userID
	e.do("DELETE", "/v1/users/bob", testAdminKey, nil).want(t, http.StatusNoContent)

	resp := e.do("GET", "/v1/overview", testAdminKey, nil).want(t, http.StatusOK)
	var got overviewResponse
	resp.decode(t, &got)
	want := overviewResponse{Version: "test", Users: 2, Apps: []overviewApp{
		{AppID: testAppID, Default: true, Variant: "gcm", TTL: overviewTTL{Default: 3600, Min: 60, Max: 86400}, PreviousSecrets: 1},
		{AppID: 42, Default: false, Variant: "cbc", TTL: overviewTTL{Default: 600, Min: 31, Max: 7200}, PreviousSecrets: 0},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /v1/overview (-want +got):\n%s", diff)
	}
	body := string(resp.body)
	for _, sec := range []string{testSecret, previous, legacy} {
		for _, leak := range []string{sec, sec[:8], hex.EncodeToString([]byte(sec))[:16]} {
			if strings.Contains(body, leak) {
				t.Errorf("overview %s holds a secret's %q", body, leak)
			}
		}
	}
}

func TestOverviewNeedsAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	session := e.userWithSession("carol")
	e.do("GET", "/v1/overview", "", nil).problem(t, http.StatusUnauthorized, codeUnauthorized)
	e.do("GET", "/v1/overview", session, nil).problem(t, http.StatusForbidden, codeForbidden)
	e.do("POST", "/v1/overview", testAdminKey, nil).problem(t, http.StatusMethodNotAllowed, codeMethodNotAllowed)
}

// TestListUsersTotal: total counts the registry, not the page or the prefix.
func TestListUsersTotal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var list api.UserList
	e.do("GET", "/v1/users", testAdminKey, nil).want(t, http.StatusOK).decode(t, &list)
	if list.Total != 0 {
		t.Errorf("empty registry: total = %d, want 0", list.Total)
	}
	for _, id := range []string{"a1", "a2", "b1"} {
		e.createUser(id)
	}
	for _, q := range []string{"", "?limit=1", "?prefix=b", "?prefix=zz", "?after=a2"} {
		list = api.UserList{}
		e.do("GET", "/v1/users"+q, testAdminKey, nil).want(t, http.StatusOK).decode(t, &list)
		if list.Total != 3 {
			t.Errorf("GET /v1/users%s: total = %d (page of %d), want 3", q, list.Total, len(list.Users))
		}
	}
	e.do("DELETE", "/v1/users/a1", testAdminKey, nil).want(t, http.StatusNoContent)
	e.do("GET", "/v1/users?limit=1", testAdminKey, nil).want(t, http.StatusOK).decode(t, &list)
	if list.Total != 2 {
		t.Errorf("after a delete: total = %d, want 2", list.Total)
	}
}

// TestConsoleMount: the console is served under /console/ when given, with
// its security headers there and nowhere else, and is a 404 when not.
func TestConsoleMount(t *testing.T) {
	t.Parallel()
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path string) *http.Response {
		t.Helper()
		resp, err := plain.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	on := newEnv(t, func(s *envSetup) { s.console = console.Handler() })
	page := get(on.srv.URL, "/console/")
	if page.StatusCode != http.StatusOK || page.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("GET /console/ = %d %q, want 200 text/html", page.StatusCode, page.Header.Get("Content-Type"))
	}
	if !strings.Contains(page.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("GET /console/: Content-Security-Policy = %q", page.Header.Get("Content-Security-Policy"))
	}
	if page.Header.Get("X-Request-ID") == "" {
		t.Error("GET /console/ went around the middleware: no X-Request-ID")
	}
	if r := get(on.srv.URL, "/console"); r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console = %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get(on.srv.URL, "/console/no-such-file.js"); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET /console/no-such-file.js = %d, want 404", r.StatusCode)
	}
	// The API's responses keep their own headers.
	api := on.do("GET", "/v1/overview", testAdminKey, nil).want(t, http.StatusOK)
	if csp := api.header.Get("Content-Security-Policy"); csp != "" {
		t.Errorf("GET /v1/overview carries the console's Content-Security-Policy %q", csp)
	}
	if h := get(on.srv.URL, "/healthz"); h.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("GET /healthz carries a Content-Security-Policy")
	}

	off := newEnv(t)
	for _, path := range []string{"/console/", "/console", "/console/app.js"} {
		off.do("GET", path, "", nil).problem(t, http.StatusNotFound, codeNotFound)
	}
}
