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
// io.Discard) and metrics. "inprocess" calls ServeHTTP directly and shows
// what our code costs; "loopback" goes through net/http on 127.0.0.1 with
// parallel keep-alive clients, which is what a deployment sees.
//
//	go test -run '^$' -bench 'Route' -benchmem ./internal/httpapi/
func BenchmarkRoute(b *testing.B) {
	e := newEnv(b, func(s *envSetup) { s.logLevel = slog.LevelInfo; s.logTo = io.Discard })
	session := e.userWithSession("bench-user")
	routes := []struct {
		name, method, path, credential, body string
		want                                 int
	}{
		{"healthz", "GET", "/healthz", "", "", http.StatusOK},
		{"token", "POST", "/v1/token", session, "", http.StatusOK},
		{"token-room", "POST", "/v1/token", session, `{"effectiveTimeInSeconds":3600,"room":{"roomID":"r1","login":true,"publish":true}}`, http.StatusOK},
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
				e.api.ServeHTTP(w, req)
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
					req, _ := http.NewRequest(rt.method, e.srv.URL+rt.path, strings.NewReader(rt.body))
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
