package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"authsvc/api"
)

// BenchmarkDecode measures decode alone on the token route's bodies: the
// empty body most calls send, and one with room privileges.
//
//	go test -run '^$' -bench Decode -benchmem ./internal/httpapi/
func BenchmarkDecode(b *testing.B) {
	bodies := []struct{ name, body string }{
		{"empty", ""},
		{"object", `{}`},
		{"room", `{"effectiveTimeInSeconds":3600,"room":{"roomID":"r1","login":true,"publish":true,"streamIDs":["cam","mic"]}}`},
	}
	for _, bb := range bodies {
		b.Run(bb.name, func(b *testing.B) {
			rd := strings.NewReader(bb.body)
			r := httptest.NewRequest(http.MethodPost, "/v1/token", rd)
			r.Header.Set("Content-Type", "application/json")
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(bb.body)
				r.Body = io.NopCloser(rd)
				var req api.TokenRequest
				if err := decode(r, &req, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
