package token

import (
	"crypto/rand"
	"io"
	"testing"
)

// Benchmark claims: a ZIM token carries no payload, an RTC token usually a
// room privilege payload, which doubles the body and is mostly escapes.
var (
	benchZIM = Params{AppID: 1234567890, UserID: "user_0123456789", EffectiveTime: 3600}
	benchRTC = Params{AppID: 1234567890, UserID: "user_0123456789", EffectiveTime: 3600,
		Payload: Room{RoomID: "room-1", Login: true, Publish: true}.Payload()}
)

// BenchmarkMint reads crypto/rand.Reader, as production does, so that the
// figures are honest; the zeroreader case swaps in a reader that costs next
// to nothing, to show how much of the time the random read takes.
func BenchmarkMint(b *testing.B) {
	for _, bc := range []struct {
		name string
		v    Variant
		p    Params
		rnd  io.Reader
	}{
		{"gcm/zim/cryptorand", GCM, benchZIM, rand.Reader},
		{"gcm/rtc/cryptorand", GCM, benchRTC, rand.Reader},
		{"gcm/rtc/zeroreader", GCM, benchRTC, zeroReader{}},
		{"cbc/zim/cryptorand", CBC, benchZIM, rand.Reader},
		{"cbc/rtc/cryptorand", CBC, benchRTC, rand.Reader},
	} {
		b.Run(bc.name, func(b *testing.B) {
			k := mustKey(b, testSecret)
			p := bc.p
			p.Variant = bc.v
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := k.Mint(bc.rnd, testNow, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		v    Variant
		p    Params
	}{
		{"gcm/zim", GCM, benchZIM},
		{"gcm/rtc", GCM, benchRTC},
		{"cbc/zim", CBC, benchZIM},
		{"cbc/rtc", CBC, benchRTC},
	} {
		b.Run(bc.name, func(b *testing.B) {
			k := mustKey(b, testSecret)
			p := bc.p
			p.Variant = bc.v
			tok, _, err := k.Mint(rand.Reader, testNow, p)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := k.Decode(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify verifies GCM RTC tokens against a current and a previous
// key: "current" was minted with the first, "rotated" with the second, so
// the first key fails before the second one opens it.
func BenchmarkVerify(b *testing.B) {
	keys := []*Key{mustKey(b, testSecret), mustKey(b, otherSecret)}
	want := Expect{AppID: benchRTC.AppID, UserID: benchRTC.UserID}
	for signer, name := range []string{"current", "rotated"} {
		b.Run(name, func(b *testing.B) {
			tok, _, err := keys[signer].Mint(rand.Reader, testNow, benchRTC)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Verify(tok, keys, testNow, want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseClaims isolates the JSON reader of an RTC token's body.
func BenchmarkParseClaims(b *testing.B) {
	k := mustKey(b, testSecret)
	tok, _, err := k.Mint(rand.Reader, testNow, benchRTC)
	if err != nil {
		b.Fatal(err)
	}
	src := plaintextOf(b, k, tok)
	buf := make([]byte, len(src))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, src)
		if _, err := parseClaims(buf); err != nil {
			b.Fatal(err)
		}
	}
}
