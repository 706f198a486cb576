package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// testFiles stand in for the UI engineer's files, which change; the
// embedded tree itself is checked by TestEmbeddedIndex.
var testFiles = fstest.MapFS{
	"index.html":   {Data: []byte("<!doctype html><title>t</title>")},
	"app.js":       {Data: []byte("export const x = 1;\n")},
	"console.css":  {Data: []byte("body { margin: 0 }\n")},
	"lib/mod.mjs":  {Data: []byte("export default 2;\n")},
	"logo.svg":     {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")},
	"LICENSE.blob": {Data: []byte("x")},
}

type result struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, srv *httptest.Server, method, path string, header http.Header) result {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

func wantSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Security-Policy": wantCSP,
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-cache",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
}

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newHandler(testFiles))
	t.Cleanup(srv.Close)
	return srv
}

func TestFiles(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	tests := []struct {
		path, contentType, body string
	}{
		{"/console/", "text/html; charset=utf-8", "<!doctype html><title>t</title>"},
		{"/console/index.html", "text/html; charset=utf-8", "<!doctype html><title>t</title>"},
		{"/console/app.js", "text/javascript; charset=utf-8", "export const x = 1;\n"},
		{"/console/console.css", "text/css; charset=utf-8", "body { margin: 0 }\n"},
		{"/console/lib/mod.mjs", "text/javascript; charset=utf-8", "export default 2;\n"},
		{"/console/logo.svg", "image/svg+xml", "<svg xmlns='http://www.w3.org/2000/svg'/>"},
		{"/console/LICENSE.blob", "application/octet-stream", "x"},
	}
	for _, tt := range tests {
		got := send(t, srv, http.MethodGet, tt.path, nil)
		if got.status != http.StatusOK || got.body != tt.body {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.path, got.status, got.body, tt.body)
		}
		if ct := got.header.Get("Content-Type"); ct != tt.contentType {
			t.Errorf("GET %s: Content-Type = %q, want %q", tt.path, ct, tt.contentType)
		}
		if got.header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", tt.path)
		}
		wantSecurityHeaders(t, "GET "+tt.path, got.header)
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	get := send(t, srv, http.MethodGet, "/console/app.js", nil)
	head := send(t, srv, http.MethodHead, "/console/app.js", nil)
	if head.status != http.StatusOK || head.body != "" {
		t.Errorf("HEAD = %d %q, want 200 and no body", head.status, head.body)
	}
	for _, k := range []string{"Content-Type", "Content-Length", "ETag"} {
		if head.header.Get(k) != get.header.Get(k) {
			t.Errorf("HEAD %s = %q, GET's %q", k, head.header.Get(k), get.header.Get(k))
		}
	}
	wantSecurityHeaders(t, "HEAD", head.header)
}

func TestETag(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	js := send(t, srv, http.MethodGet, "/console/app.js", nil)
	css := send(t, srv, http.MethodGet, "/console/console.css", nil)
	tag := js.header.Get("ETag")
	if !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) || len(tag) < 10 {
		t.Fatalf("ETag = %q, want a strong quoted tag", tag)
	}
	if tag == css.header.Get("ETag") {
		t.Errorf("two files share the ETag %q", tag)
	}
	if again := newHandler(testFiles).files["app.js"].etag; again != tag {
		t.Errorf("ETag of the same content = %q, then %q", tag, again)
	}
	got := send(t, srv, http.MethodGet, "/console/app.js", http.Header{"If-None-Match": {tag}})
	if got.status != http.StatusNotModified || got.body != "" {
		t.Errorf("If-None-Match with the ETag = %d %q, want 304", got.status, got.body)
	}
	wantSecurityHeaders(t, "304", got.header)
	got = send(t, srv, http.MethodGet, "/console/app.js", http.Header{"If-None-Match": {`"stale"`}})
	if got.status != http.StatusOK || got.body != js.body {
		t.Errorf("If-None-Match with another tag = %d %q, want 200 and the file", got.status, got.body)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/console/nope.js", http.StatusNotFound, codeNotFound},
		{http.MethodGet, "/console/lib", http.StatusNotFound, codeNotFound}, // a directory
		{http.MethodGet, "/console/lib/", http.StatusNotFound, codeNotFound},
		{http.MethodGet, "/console/../console/app.js", http.StatusNotFound, codeNotFound},
		{http.MethodGet, "/console/%2e%2e/app.js", http.StatusNotFound, codeNotFound},
		{http.MethodGet, "/elsewhere", http.StatusNotFound, codeNotFound},
		{http.MethodPost, "/console/", http.StatusMethodNotAllowed, codeMethodNotAllowed},
		{http.MethodPut, "/console/app.js", http.StatusMethodNotAllowed, codeMethodNotAllowed},
		{http.MethodDelete, "/console/app.js", http.StatusMethodNotAllowed, codeMethodNotAllowed},
		{http.MethodOptions, "/console/", http.StatusMethodNotAllowed, codeMethodNotAllowed},
	}
	for _, tt := range tests {
		got := send(t, srv, tt.method, tt.path, nil)
		var p problem
		if err := json.Unmarshal([]byte(got.body), &p); err != nil {
			t.Errorf("%s %s: body %q is not a problem: %v", tt.method, tt.path, got.body, err)
			continue
		}
		if got.status != tt.status || p.Status != tt.status || p.Code != tt.code || p.Detail == "" {
			t.Errorf("%s %s = %d %+v, want %d %q", tt.method, tt.path, got.status, p, tt.status, tt.code)
		}
		if ct := got.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s: Content-Type = %q", tt.method, tt.path, ct)
		}
		wantSecurityHeaders(t, tt.method+" "+tt.path, got.header)
	}
	if allow := send(t, srv, http.MethodPost, "/console/", nil).header.Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("405 Allow = %q", allow)
	}
}

func TestRedirect(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		got := send(t, srv, method, "/console", nil)
		if got.status != http.StatusMovedPermanently || got.header.Get("Location") != "/console/" {
			t.Errorf("%s /console = %d Location %q, want 301 to /console/", method, got.status, got.header.Get("Location"))
		}
	}
}

// TestEmbeddedIndex checks the files the binary carries: /console/ is the
// UI's index.html, an HTML page.
func TestEmbeddedIndex(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	got := send(t, srv, http.MethodGet, "/console/", nil)
	if got.status != http.StatusOK || !strings.Contains(strings.ToLower(got.body), "<!doctype html>") {
		t.Errorf("GET /console/ = %d %q, want 200 and the UI's index.html", got.status, got.body)
	}
	if ct := got.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	wantSecurityHeaders(t, "embedded index", got.header)
}

// FuzzPath: whatever path a client sends, the console answers 200 with an
// embedded file, 301 to /console/, 404 or 405, always with its security
// headers, and never serves anything but the files it holds.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"/console/", "/console", "/console/app.js", "/console/../etc/passwd",
		"/console/lib/", "/console//app.js", "/console/%00", "/console/app.js/", "/"} {
		f.Add("GET", s)
	}
	f.Add("POST", "/console/")
	h := newHandler(testFiles)
	contents := map[string]bool{}
	for _, file := range h.files {
		contents[string(file.content)] = true
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Method = method
		req.URL.Path = path
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Security-Policy"); got != wantCSP {
			t.Fatalf("%q %q: Content-Security-Policy = %q", method, path, got)
		}
		switch rec.Code {
		case http.StatusOK:
			if method != http.MethodGet && method != http.MethodHead {
				t.Fatalf("%q %q: 200 for a method other than GET and HEAD", method, path)
			}
			if body := rec.Body.String(); method == http.MethodGet && !contents[body] {
				t.Fatalf("%q %q: served %q, which is no console file", method, path, body)
			}
		case http.StatusMovedPermanently:
			if path != "/console" || rec.Header().Get("Location") != "/console/" {
				t.Fatalf("%q %q: redirect to %q", method, path, rec.Header().Get("Location"))
			}
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			var p problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code == "" || p.Status != rec.Code {
				t.Fatalf("%q %q: %d with body %q, want a problem", method, path, rec.Code, rec.Body)
			}
		default:
			t.Fatalf("%q %q: status %d", method, path, rec.Code)
		}
	})
}
