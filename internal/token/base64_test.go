package token

import (
	"bytes"
	"encoding/base64"
	mrand "math/rand/v2"
	"testing"

	"authsvc/internal/token/tokenvectors"
)

func TestBase64(t *testing.T) {
	t.Parallel()
	rng := mrand.New(mrand.NewPCG(13, 14))
	for n := range 300 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		want := base64.StdEncoding.EncodeToString(src)
		dst := make([]byte, b64EncodedLen(n))
		encodeBase64(dst, src)
		if string(dst) != want {
			t.Fatalf("encodeBase64(%x) = %s, want %s", src, dst, want)
		}
		checkDecodeBase64(t, want)
	}
	for _, s := range []string{"", "=", "==", "===", "====", "A===", "AA==", "AB==", "AAA=", "AAB=", "AAAA",
		"AA=A", "A=AA", "AAAAAA==AAAA", "AAAA\nAAAA", "AAAA\r\nAA==", "AA-_", "AA.A", "\xffAAA"} {
		checkDecodeBase64(t, s)
	}
}

// checkDecodeBase64 compares decodeBase64 with encoding/base64's strict
// decoder, which must agree except that line breaks are never accepted.
func checkDecodeBase64(tb testing.TB, text string) {
	tb.Helper()
	want, wantErr := base64.StdEncoding.Strict().DecodeString(text)
	if bytes.ContainsAny([]byte(text), "\r\n") {
		wantErr = base64.CorruptInputError(0)
	}
	dst := make([]byte, b64DecodedLen(text))
	n, ok := decodeBase64(dst, text)
	switch {
	case ok != (wantErr == nil):
		tb.Fatalf("decodeBase64(%q) = %x, %v; encoding/base64 says %x, %v", text, dst[:n], ok, want, wantErr)
	case ok && !bytes.Equal(dst[:n], want):
		tb.Fatalf("decodeBase64(%q) = %x, want %x", text, dst[:n], want)
	}
}

func FuzzDecodeBase64(f *testing.F) {
	for _, v := range tokenvectors.All() {
		f.Add(v.Token[2:])
	}
	f.Add("AB==")
	f.Fuzz(func(t *testing.T, text string) {
		checkDecodeBase64(t, text)
	})
}
