package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The token route against a trivial route (/healthz) on the same handler
// stack: middleware, router, access log at the production level (info, to
// io.Discard), metrics and the audit trail; and the token route with the
// audit trail switched off, to show what auditing costs. "inprocess" calls ServeHTTP directly and shows
// what our code costs; "loopback" goes through net/http on 127.0.0.1 with
// parallel keep-alive clients, which is what a deployment sees.
//
//	go test -run '^$' -bench 'Route' -benchmem ./internal/httpapi/
func BenchmarkRoute(b *testing.B) {
	quiet := func(s *envSetup) { s.logLevel = slog.LevelInfo; s.logTo = io.Discard }
	e := newEnv(b, quiet)
	session := e.userWithSession("bench-user")
	noAudit := newEnv(b, quiet, func(s *envSetup) { s.noAudit = true })
	noAuditSession := noAudit.userWithSession("bench-user")
	routes := []struct {
		name, method, path, credential, body string
		want                                 int
		env                                  *env
	}{
		{"healthz", "GET", "/healthz", "", "", http.StatusOK, e},
		{"token", "POST", "/v1/token", session, "", http.StatusOK, e},
		{"token-room", "POST", "/v1/token", session, `{"effectiveTimeInSeconds":3600,"room":{"roomID":"r1","login":true,"publish":true}}`, http.StatusOK, e},
		{"token-no-audit", "POST", "/v1/token", noAuditSession, "", http.StatusOK, noAudit},
	}
	for _, rt := range routes {
		b.Run("inprocess/"+rt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(rt.body))
				req.RemoteAddr = "127.0.0.1:40000"
				if rt.credential != "" {
					req.Header.Set("Authorization", "Bearer "+rt.credential)
				}
				w := httptest.NewRecorder()
				rt.env.api.ServeHTTP(w, req)
				if w.Code != rt.want {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
		b.Run("loopback/"+rt.name, func(b *testing.B) {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.SetParallelism(8) // 8 clients per core
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(rt.method, rt.env.srv.URL+rt.path, strings.NewReader(rt.body))
					if rt.credential != "" {
						req.Header.Set("Authorization", "Bearer "+rt.credential)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != rt.want {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
		})
	}
}

// BenchmarkTokenStack is POST /v1/token as a logged-in user through the
// whole handler stack (observe, router, body limit, auth, handler, encode,
// metrics, access log at info), with the request built once and a
// ResponseWriter that keeps nothing, so allocs/op counts the stack's
// allocations and not the harness's. "audit" includes the audit writer,
// whose batched inserts run on their own goroutine and are counted too.
// "healthz" is GET /healthz through the same stack, for what the token
// route adds to it.
//
//	go test -run '^$' -bench TokenStack -benchmem -count 6 ./internal/httpapi/
func BenchmarkTokenStack(b *testing.B) {
	quiet := func(s *envSetup) { s.logLevel = slog.LevelInfo; s.logTo = io.Discard }
	for _, c := range []struct {
		name, method, path string
		session            bool // a logged-in user's bearer
		opts               []envOption
	}{
		{"audit", http.MethodPost, "/v1/token", true, []envOption{quiet}},
		{"no-audit", http.MethodPost, "/v1/token", true, []envOption{quiet, func(s *envSetup) { s.noAudit = true }}},
		{"healthz", http.MethodGet, "/healthz", false, []envOption{quiet}},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, c.opts...)
			req := httptest.NewRequest(c.method, c.path, http.NoBody)
			if c.session {
				req.Header.Set("Authorization", "Bearer "+e.userWithSession("bench-user"))
			}
			req.RemoteAddr = "127.0.0.1:40000"
			w := &discardWriter{header: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.header)
				w.status = 0
				e.api.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// discardWriter is the least a ResponseWriter can be: it keeps the status
// and drops the body.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}
