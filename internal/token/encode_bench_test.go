package token

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

// encodeTextStd is encodeText with encoding/base64 in place of encodeBase64.
func encodeTextStd(bin []byte) string {
	var sb strings.Builder
	sb.Grow(len(version) + base64.StdEncoding.EncodedLen(len(bin)))
	sb.WriteString(version)
	var chunk [128]byte
	for len(bin) > 0 {
		n := min(len(bin), len(chunk)/4*3)
		m := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(chunk[:m], bin[:n])
		sb.Write(chunk[:m])
		bin = bin[n:]
	}
	return sb.String()
}

// encodeTextAppend is encodeText with base64.StdEncoding.AppendEncode, at
// the cost of a second allocation for the string.
func encodeTextAppend(bin []byte) string {
	b := make([]byte, 0, len(version)+base64.StdEncoding.EncodedLen(len(bin)))
	b = append(b, version...)
	return string(base64.StdEncoding.AppendEncode(b, bin))
}

func TestEncodeTextVariantsAgree(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	for _, p := range []Params{benchZIM, benchRTC} {
		bin, _, err := k.mintBinary(rand.Reader, testNow, p)
		if err != nil {
			t.Fatal(err)
		}
		want := encodeText(bin)
		if got := encodeTextStd(bin); got != want {
			t.Errorf("encodeTextStd = %s, want %s", got, want)
		}
		if got := encodeTextAppend(bin); got != want {
			t.Errorf("encodeTextAppend = %s, want %s", got, want)
		}
	}
}

// BenchmarkMintEncoder mints with each base64 encoder side by side, so one
// run shows what the hand-written encoder buys in Mint. The zero reader
// keeps the random read out of the figure.
func BenchmarkMintEncoder(b *testing.B) {
	encoders := []struct {
		name string
		enc  func([]byte) string
	}{{"hand", encodeText}, {"std", encodeTextStd}, {"append", encodeTextAppend}}
	for _, pc := range []struct {
		name string
		p    Params
	}{{"gcm/zim", benchZIM}, {"gcm/rtc", benchRTC}} {
		for _, ec := range encoders {
			b.Run(pc.name+"/"+ec.name, func(b *testing.B) {
				k := mustKey(b, testSecret)
				b.ReportAllocs()
				for b.Loop() {
					bin, _, err := k.mintBinary(zeroReader{}, testNow, pc.p)
					if err != nil {
						b.Fatal(err)
					}
					_ = ec.enc(bin)
				}
			})
		}
	}
}

// BenchmarkEncodeText times the encoders alone on an RTC token's binary, to
// set their difference against BenchmarkMintEncoder's totals.
func BenchmarkEncodeText(b *testing.B) {
	bin, _, err := mustKey(b, testSecret).mintBinary(zeroReader{}, testNow, benchRTC)
	if err != nil {
		b.Fatal(err)
	}
	for _, ec := range []struct {
		name string
		enc  func([]byte) string
	}{{"hand", encodeText}, {"std", encodeTextStd}, {"append", encodeTextAppend}} {
		b.Run(ec.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = ec.enc(bin)
			}
		})
	}
}
