// Package console serves the admin console: the browser files embedded
// under ui/, which call the public REST API from the same origin with an
// admin key. It knows nothing of the API; the router mounts Handler at
// /console/.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed ui
var embedded embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console/"

// Problem codes of the console's own refusals, the same strings the API
// uses for the same cases.
const (
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
)

// securityHeaders go on every console response. The policy allows only the
// console's own files: no inline script or style, no eval, no framing.
var securityHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Content-Type-Options", "nosniff"},
	{"Cache-Control", "no-cache"},
}

// contentTypes are fixed here rather than taken from mime.TypeByExtension,
// which reads the machine's mime.types and may answer application/javascript
// or nothing at all.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".txt":   "text/plain; charset=utf-8",
	".woff2": "font/woff2",
}

type file struct {
	content     []byte
	contentType string
	etag        string
}

type handler struct {
	files map[string]file // by path relative to ui/, "index.html" for "/console/"
}

// Handler serves the embedded console under Prefix: GET and HEAD only,
// index.html for Prefix itself, a redirect from "/console" to Prefix, and a
// problem document for anything else.
func Handler() http.Handler {
	sub, err := fs.Sub(embedded, "ui")
	if err != nil {
		// fs.Sub fails only on an invalid name, and "ui" is valid.
		sub = embedded
	}
	return newHandler(sub)
}

// newHandler reads every file of fsys once, so responses carry an ETag of
// their content and no request touches the file system.
func newHandler(fsys fs.FS) *handler {
	h := &handler{files: map[string]file{}}
	_ = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // an embedded tree has no unreadable entries
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		h.files[name] = file{content: b, contentType: ct,
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}
		return nil
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, kv := range securityHeaders {
		w.Header().Set(kv[0], kv[1])
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "the console answers GET and HEAD only")
		return
	}
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		writeProblem(w, http.StatusNotFound, codeNotFound, "no such console file")
		return
	}
	if name == "" {
		name = "index.html"
	}
	f, ok := h.files[name]
	if !ok {
		writeProblem(w, http.StatusNotFound, codeNotFound, "no such console file")
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	// ServeContent answers If-None-Match, Range and HEAD. The zero time
	// leaves out Last-Modified, which embedded files do not have.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.content))
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// writeProblem answers with an RFC 9457 problem document, as the API does.
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	b, err := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Code: code})
	if err != nil {
		http.Error(w, detail, status)
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
