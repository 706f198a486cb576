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

// BenchmarkEncodeToken is the token response written by reflection (encode)
// against appended by hand (encodeToken), the same bytes.
//
//	go test -run '^$' -bench EncodeToken -benchmem ./internal/httpapi/
func BenchmarkEncodeToken(b *testing.B) {
	resp := api.TokenResponse{Token: "04AAAAAGkAbcDEFghijklmnopqrstuvwxyz0123456789+/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFGHIJKLMNOPQRS==",
		AppID: 1234567890, UserID: "bench-user", UserName: "Bench User", IssuedAt: 1700000000, ExpiresAt: 1700086400, EffectiveTimeInSeconds: 86400}
	w := &discardWriter{header: make(http.Header)}
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := encode(w, http.StatusOK, resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := encodeToken(w, &resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
