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

// checkDecodersAgree holds the encoding/base64 decoder to the hand-written
// one it replaces: the same verdict and the same bytes for every text.
func checkDecodersAgree(tb testing.TB, text string) {
	tb.Helper()
	size := b64DecodedLen(text)
	for _, extra := range []int{0, 8} { // dst exactly sized, and with room to spare
		old, dst := make([]byte, size+extra), make([]byte, size+extra)
		n0, ok0 := decodeBase64(old, text)
		n1, ok1 := decodeBase64Std(dst, text)
		if ok0 != ok1 || ok0 && !bytes.Equal(old[:n0], dst[:n1]) {
			tb.Fatalf("decodeBase64Std(%q) = %x, %v; decodeBase64 = %x, %v", text, dst[:n1], ok1, old[:n0], ok0)
		}
	}
	if size > 0 {
		if _, ok := decodeBase64Std(make([]byte, size-1), text); ok {
			tb.Fatalf("decodeBase64Std(%q) into %d bytes = ok, want a refusal", text, size-1)
		}
	}
}

func TestDecodersAgree(t *testing.T) {
	t.Parallel()
	rng := mrand.New(mrand.NewPCG(15, 16))
	for n := range 300 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		text := base64.StdEncoding.EncodeToString(src)
		checkDecodersAgree(t, text)
		// Every single-character change of a valid text, into each
		// character that matters: the alphabet's edges, padding, line
		// breaks, the URL alphabet and a byte outside ASCII.
		for i := range len(text) {
			for _, c := range []byte("AB/+=\r\n-_.\xff") {
				checkDecodersAgree(t, text[:i]+string(c)+text[i+1:])
			}
		}
	}
	for _, s := range []string{"", "=", "==", "===", "====", "A===", "AA==", "AB==", "AAA=", "AAB=", "AAAA",
		"AA=A", "A=AA", "AAAAAA==AAAA", "AAAA\nAAAA", "AAAA\r\nAA==", "\nAAAA", "AAAA\n", "AA==\n", "AA-_", "AA.A", "\xffAAA"} {
		checkDecodersAgree(t, s)
	}
}

func FuzzDecodersAgree(f *testing.F) {
	for _, v := range tokenvectors.All() {
		f.Add(v.Token[2:])
	}
	f.Add("AB==")
	f.Add("AAAA\r\nAA==")
	f.Fuzz(func(t *testing.T, text string) {
		checkDecodersAgree(t, text)
	})
}
