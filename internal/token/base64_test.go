package token

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"authsvc/internal/token/tokenvectors"
)

// TestBase64RoundTrip encodes binaries of every length up to and past
// encodeText's chunk, and decodes them back.
func TestBase64RoundTrip(t *testing.T) {
	t.Parallel()
	rng := mrand.New(mrand.NewPCG(13, 14))
	for n := range 300 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		text := encodeText(src)
		if want := version + base64.StdEncoding.EncodeToString(src); text != want {
			t.Fatalf("encodeText(%x) = %s, want %s", src, text, want)
		}
		dst := make([]byte, b64DecodedLen(text[len(version):]))
		if n, ok := decodeBase64(dst, text[len(version):]); !ok || !bytes.Equal(dst[:n], src) {
			t.Fatalf("decodeBase64(%s) = %x, %v; want %x, true", text, dst[:n], ok, src)
		}
	}
}

// TestDecodeBase64 pins what the decoder refuses: every binary token has
// exactly one text.
func TestDecodeBase64(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want string // hex; "-" for a refusal
	}{
		{"", ""},
		{"AA==", "00"},
		{"AAA=", "0000"},
		{"AAAA", "000000"},
		{"/+8=", "ffef"},
		{"AB==", "-"},     // unused bits set: non-canonical
		{"AAB=", "-"},     // likewise
		{"=", "-"},        // not a whole quantum
		{"==", "-"},       // likewise
		{"AAA", "-"},      // unpadded
		{"====", "-"},     // padding only
		{"A===", "-"},     // three padding characters
		{"AA=A", "-"},     // padding inside a quantum
		{"A=AA", "-"},     // likewise
		{"AA==AAAA", "-"}, // padding before the end
		{"AAAA\nAAAA", "-"},
		{"AAAA\r\nAA==", "-"},
		{"\nAAAA", "-"},
		{"AAAA\n", "-"},
		{"AA-_", "-"},    // URL alphabet
		{"AA.A", "-"},    // outside any alphabet
		{"\xffAAA", "-"}, // not ASCII
		{"AA A", "-"},    // space
	}
	for _, tt := range tests {
		dst := make([]byte, b64DecodedLen(tt.text))
		n, ok := decodeBase64(dst, tt.text)
		got := "-"
		if ok {
			got = hex.EncodeToString(dst[:n])
		}
		if got != tt.want {
			t.Errorf("decodeBase64(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
	if _, ok := decodeBase64(make([]byte, 2), "AAAA"); ok {
		t.Error("decodeBase64 into a short destination = ok, want a refusal")
	}
}

// FuzzDecodeBase64 checks that decoding never panics, refuses every line
// break, agrees with encoding/base64's strict decoder otherwise, and that
// what it accepts encodes back to the same text.
func FuzzDecodeBase64(f *testing.F) {
	for _, v := range tokenvectors.All() {
		f.Add(v.Token[2:])
	}
	f.Add("AB==")
	f.Add("AAAA\r\nAA==")
	f.Fuzz(func(t *testing.T, text string) {
		dst := make([]byte, b64DecodedLen(text))
		n, ok := decodeBase64(dst, text)
		want, err := base64.StdEncoding.Strict().DecodeString(text)
		if strings.ContainsAny(text, "\r\n") {
			err = base64.CorruptInputError(0)
		}
		switch {
		case ok != (err == nil):
			t.Fatalf("decodeBase64(%q) = %x, %v; encoding/base64 says %x, %v", text, dst[:n], ok, want, err)
		case ok && !bytes.Equal(dst[:n], want):
			t.Fatalf("decodeBase64(%q) = %x, want %x", text, dst[:n], want)
		case ok && base64.StdEncoding.EncodeToString(dst[:n]) != text:
			t.Fatalf("decodeBase64(%q) accepted a text that does not encode back to itself", text)
		}
	})
}
