package token

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	testSecret  = "0123456789abcdef0123456789abcdef"
	otherSecret = "fedcba9876543210fedcba9876543210"
)

var testNow = time.Unix(1795633184, 0)

// seeded returns a deterministic stand-in for crypto/rand.Reader.
func seeded(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return mrand.NewChaCha8(s)
}

// plaintextOf returns tok's decrypted JSON body.
func plaintextOf(tb testing.TB, k *Key, tok string) []byte {
	tb.Helper()
	f, err := parseFrame(tok)
	if err != nil {
		tb.Fatalf("parseFrame: %v", err)
	}
	b, err := k.decrypt(f)
	if err != nil {
		tb.Fatalf("decrypt: %v", err)
	}
	return b
}

// binaryOf returns tok's binary form.
func binaryOf(tb testing.TB, tok string) []byte {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(tok, "04"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func textOf(bin []byte) string { return "04" + base64.StdEncoding.EncodeToString(bin) }

func TestNewKey(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 64} {
		secret := bytes.Repeat([]byte{'s'}, n)
		k, err := NewKey(secret)
		if k != nil || !errors.Is(err, ErrSecretLength) {
			t.Errorf("NewKey(%d bytes) = %v, %v; want nil, ErrSecretLength", n, k, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(n)) || (n > 0 && strings.Contains(msg, string(secret))) {
			t.Errorf("NewKey(%d bytes) error %q: want the length and not the secret", n, msg)
		}
	}
	if _, err := NewKey([]byte(testSecret)); err != nil {
		t.Errorf("NewKey(32 bytes) = _, %v; want nil", err)
	}
}

func TestKeyFormatRedacts(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		for _, arg := range []any{k, *k} {
			if got := fmt.Sprintf(verb, arg); got != "token.Key(redacted)" {
				t.Errorf("Sprintf(%q, %T) = %q, want token.Key(redacted)", verb, arg, got)
			}
		}
	}
}

func TestVariant(t *testing.T) {
	t.Parallel()
	for _, v := range []Variant{GCM, CBC} {
		got, err := ParseVariant(v.String())
		if got != v || err != nil {
			t.Errorf("ParseVariant(%q) = %v, %v; want %v, nil", v.String(), got, err, v)
		}
	}
	if got := Variant(0).String(); got != "Variant(0)" {
		t.Errorf("Variant(0).String() = %q, want Variant(0)", got)
	}
	if _, err := ParseVariant("GCM"); err == nil {
		t.Error("ParseVariant(GCM) = nil error, want one: names are lower case")
	}
}

func TestMintRejects(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	ok := Params{AppID: 1, UserID: "u", EffectiveTime: 3600}
	tests := []struct {
		name   string
		change func(*Params)
		want   error
	}{
		{"app 0", func(p *Params) { p.AppID = 0 }, ErrInvalidAppID},
		{"empty user", func(p *Params) { p.UserID = "" }, ErrInvalidUserID},
		{"long user", func(p *Params) { p.UserID = strings.Repeat("u", MaxUserIDLen+1) }, ErrInvalidUserID},
		{"invalid UTF-8 user", func(p *Params) { p.UserID = "a\xffb" }, ErrInvalidUserID},
		{"ttl 30", func(p *Params) { p.EffectiveTime = MinEffectiveTime - 1 }, ErrTTLTooShort},
		{"ttl negative", func(p *Params) { p.EffectiveTime = -1 }, ErrTTLTooShort},
		{"ttl 24 days + 1s", func(p *Params) { p.EffectiveTime = MaxEffectiveTime + 1 }, ErrTTLTooLong},
		{"invalid UTF-8 payload", func(p *Params) { p.Payload = "\xc3" }, ErrInvalidPayload},
		{"GCM payload too large", func(p *Params) { p.Payload = strings.Repeat("p", math.MaxUint16) }, ErrInvalidPayload},
		{"CBC payload too large", func(p *Params) { p.Payload = strings.Repeat("p", math.MaxUint16); p.Variant = CBC }, ErrInvalidPayload},
		{"escapes too large", func(p *Params) { p.Payload = strings.Repeat("\x01", math.MaxUint16/6) }, ErrInvalidPayload},
	}
	for _, tt := range tests {
		p := ok
		tt.change(&p)
		tok, _, err := k.Mint(seeded(1), testNow, p)
		if !errors.Is(err, tt.want) || tok != "" {
			t.Errorf("%s: Mint = %q, %v; want \"\", %v", tt.name, tok, err, tt.want)
		}
	}
	if _, _, err := k.Mint(seeded(1), testNow, Params{AppID: 1, UserID: "u", EffectiveTime: 3600, Variant: 3}); err == nil {
		t.Error("Mint with Variant 3 succeeded, want an error")
	}
}

// TestMintLimits mints at each accepted edge and one step past it.
func TestMintLimits(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	// The longest ctime and expire texts, and with them the longest payload
	// that fits: the body, sized for the longest nonce text, plus the GCM tag
	// or the CBC padding must fit in a uint16.
	late := time.Unix(math.MaxInt64-MaxEffectiveTime-1, 0)
	maxPayload := math.MaxUint16 - gcmTagLen - (bodyFixed + len("1") + len(`"u"`) + len("-2147483648") + 19 + 19 + len(`""`))
	tests := []struct {
		p    Params
		now  time.Time
		want error
	}{
		{Params{AppID: 1, UserID: "u", EffectiveTime: MinEffectiveTime}, testNow, nil},
		{Params{AppID: math.MaxUint32, UserID: strings.Repeat("é", MaxUserIDLen/2), EffectiveTime: MaxEffectiveTime}, testNow, nil},
		{Params{AppID: 1, UserID: "u", EffectiveTime: 3600, Payload: strings.Repeat("p", maxPayload)}, late, nil},
		{Params{AppID: 1, UserID: "u", EffectiveTime: 3600, Payload: strings.Repeat("p", maxPayload+1)}, late, ErrInvalidPayload},
		{Params{AppID: 1, UserID: "u", EffectiveTime: 3600, Payload: strings.Repeat("p", maxPayload), Variant: CBC}, late, nil},
		{Params{AppID: 1, UserID: "u", EffectiveTime: 3600, Payload: strings.Repeat("p", maxPayload+1), Variant: CBC}, late, ErrInvalidPayload},
		{Params{AppID: 1, UserID: "u", EffectiveTime: MaxEffectiveTime}, time.Unix(math.MaxInt64-MaxEffectiveTime, 0), nil},
		{Params{AppID: 1, UserID: "u", EffectiveTime: MaxEffectiveTime}, time.Unix(math.MaxInt64-MaxEffectiveTime+1, 0), ErrTTLTooLong},
	}
	for _, tt := range tests {
		tok, want, err := k.Mint(rand.Reader, tt.now, tt.p)
		if !errors.Is(err, tt.want) {
			t.Errorf("Mint(%.60v…) = %v, want %v", tt.p, err, tt.want)
		}
		if err != nil {
			continue
		}
		got, _, err := k.Decode(tok)
		if err != nil || got != want {
			t.Errorf("Decode(Mint(%.60v…)) = %.80v, %v; want %.80v", tt.p, got, err, want)
		}
	}
}

// countingReader records the reads Mint makes.
type countingReader struct {
	r     io.Reader
	sizes []int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.sizes = append(c.sizes, len(p))
	return c.r.Read(p)
}

func TestMintReadsRandomnessOnce(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	for v, want := range map[Variant]int{GCM: 12 + 4, CBC: 16 + 4} {
		r := &countingReader{r: seeded(2)}
		if _, _, err := k.Mint(r, testNow, Params{AppID: 1, UserID: "u", EffectiveTime: 60, Variant: v}); err != nil {
			t.Fatal(err)
		}
		if len(r.sizes) != 1 || r.sizes[0] != want {
			t.Errorf("Mint(%v) reads %v, want one read of %d bytes", v, r.sizes, want)
		}
	}
	_, _, err := k.Mint(failingReader{}, testNow, Params{AppID: 1, UserID: "u", EffectiveTime: 60})
	if !errors.Is(err, errNoEntropy) {
		t.Errorf("Mint with a failing reader = %v, want it wrapped", err)
	}
}

var errNoEntropy = errors.New("no entropy")

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errNoEntropy }

// TestMintMatchesReference builds the same token with encoding/json and
// crypto/cipher directly, from the format description alone.
func TestMintMatchesReference(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	random := bytes.Repeat([]byte{0xa5, 0x17, 0x3c, 0xf0}, 5)
	for _, v := range []Variant{GCM, CBC} {
		p := Params{AppID: 987654321, UserID: `alice "A" \ <&>`, EffectiveTime: 3600, Payload: Room{RoomID: "r", Login: true}.Payload(), Variant: v}
		tok, c, err := k.Mint(bytes.NewReader(random), testNow, p)
		if err != nil {
			t.Fatal(err)
		}
		ivLen := map[Variant]int{GCM: 12, CBC: 16}[v]
		iv, nonce := random[:ivLen], int32(binary.BigEndian.Uint32(random[ivLen:]))
		var plain bytes.Buffer
		enc := json.NewEncoder(&plain)
		enc.SetEscapeHTML(false)
		err = enc.Encode(struct {
			AppID   uint32 `json:"app_id"`
			UserID  string `json:"user_id"`
			Nonce   int32  `json:"nonce"`
			Ctime   int64  `json:"ctime"`
			Expire  int64  `json:"expire"`
			Payload string `json:"payload"`
		}{p.AppID, p.UserID, nonce, testNow.Unix(), testNow.Unix() + 3600, p.Payload})
		if err != nil {
			t.Fatal(err)
		}
		pt := bytes.TrimSuffix(plain.Bytes(), []byte("\n"))
		block, _ := aes.NewCipher([]byte(testSecret))
		var ct []byte
		if v == GCM {
			aead, _ := cipher.NewGCM(block)
			ct = aead.Seal(nil, iv, pt, nil)
		} else {
			pad := 16 - len(pt)%16
			ct = append(pt, bytes.Repeat([]byte{byte(pad)}, pad)...)
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
		}
		bin := binary.BigEndian.AppendUint64(nil, uint64(testNow.Unix()+3600))
		bin = binary.BigEndian.AppendUint16(bin, uint16(len(iv)))
		bin = append(bin, iv...)
		bin = binary.BigEndian.AppendUint16(bin, uint16(len(ct)))
		bin = append(bin, ct...)
		if v == GCM {
			bin = append(bin, 1)
		}
		if want := textOf(bin); tok != want {
			t.Errorf("Mint(%v) = %s\nwant %s", v, tok, want)
		}
		if c.Nonce != nonce || c.IssuedAt != testNow.Unix() || c.ExpiresAt != testNow.Unix()+3600 {
			t.Errorf("Mint(%v) claims = %+v, want nonce %d, ctime %d, expire %d", v, c, nonce, testNow.Unix(), testNow.Unix()+3600)
		}
	}
}

// randomString returns a string of at most max bytes drawn from a mix meant
// to trip an encoder: ASCII, JSON's special characters, control characters,
// multi-byte runes and, when raw is set, arbitrary bytes.
func randomString(rng *mrand.Rand, max int, raw bool) string {
	pieces := []string{"a", "Z", "0", " ", `"`, `\`, "/", "\n", "\t", "\x00", "\x01", "\x1f", "\x7f", "<", "&",
		"é", "中", "😀", "\u2028", "\ufffd", `\u0041`, "{", "}", ","}
	var b []byte
	n := rng.IntN(max + 1)
	for len(b) < n {
		var p string
		if raw && rng.IntN(4) == 0 {
			p = string([]byte{byte(rng.IntN(256))})
		} else {
			p = pieces[rng.IntN(len(pieces))]
		}
		if len(b)+len(p) > n {
			break
		}
		b = append(b, p...)
	}
	return string(b)
}

func randomParams(rng *mrand.Rand) Params {
	p := Params{
		AppID:         rng.Uint32(),
		UserID:        randomString(rng, MaxUserIDLen, rng.IntN(4) == 0),
		EffectiveTime: MinEffectiveTime + rng.Int64N(MaxEffectiveTime-MinEffectiveTime+1),
		Variant:       Variant(1 + rng.IntN(2)),
	}
	switch rng.IntN(4) {
	case 0:
		p.AppID = []uint32{1, math.MaxUint32}[rng.IntN(2)]
	case 1:
		p.EffectiveTime = []int64{MinEffectiveTime, MaxEffectiveTime}[rng.IntN(2)]
	}
	switch rng.IntN(3) {
	case 0:
	case 1:
		p.Payload = randomString(rng, 300, rng.IntN(8) == 0)
	case 2:
		r := Room{RoomID: randomString(rng, 40, false), Login: rng.IntN(2) == 0, Publish: rng.IntN(2) == 0}
		for range rng.IntN(3) {
			r.StreamIDs = append(r.StreamIDs, randomString(rng, 20, false))
		}
		p.Payload = r.Payload()
	}
	if rng.IntN(20) == 0 {
		p.UserID = ""
	}
	return p
}

// TestRoundTrip mints random claims with both variants and reads them back
// through Decode, Verify, Expiry and encoding/json.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k, old := mustKey(t, testSecret), mustKey(t, otherSecret)
	rng := mrand.New(mrand.NewPCG(1, 2))
	rnd := seeded(3)
	minted := map[Variant]int{}
	for i := range 3000 {
		p := randomParams(rng)
		now := time.Unix(rng.Int64N(1<<40)-1<<39, 0)
		tok, c, err := k.Mint(rnd, now, p)
		validUser := p.UserID != "" && utf8.ValidString(p.UserID)
		switch {
		case p.AppID == 0:
			if !errors.Is(err, ErrInvalidAppID) {
				t.Fatalf("%d: Mint(app 0) = %v, want ErrInvalidAppID", i, err)
			}
			continue
		case !validUser:
			if !errors.Is(err, ErrInvalidUserID) {
				t.Fatalf("%d: Mint(user %q) = %v, want ErrInvalidUserID", i, p.UserID, err)
			}
			continue
		case !utf8.ValidString(p.Payload):
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("%d: Mint(payload %q) = %v, want ErrInvalidPayload", i, p.Payload, err)
			}
			continue
		case err != nil:
			t.Fatalf("%d: Mint(%+v) = %v", i, p, err)
		}
		minted[p.Variant]++
		want := Claims{AppID: p.AppID, UserID: p.UserID, Nonce: c.Nonce, IssuedAt: now.Unix(), ExpiresAt: now.Unix() + p.EffectiveTime, Payload: p.Payload}
		if c != want {
			t.Fatalf("%d: Mint(%+v) claims = %+v, want %+v", i, p, c, want)
		}
		got, v, err := k.Decode(tok)
		if err != nil || got != c || v != p.Variant {
			t.Fatalf("%d: Decode(Mint(%+v)) = %+v, %v, %v; want %+v, %v", i, p, got, v, err, c, p.Variant)
		}
		ver, err := Verify(tok, []*Key{old, k}, now, Expect{AppID: p.AppID, UserID: p.UserID})
		if err != nil || ver.Claims != c || ver.Variant != p.Variant || ver.KeyIndex != 1 {
			t.Fatalf("%d: Verify(Mint(%+v)) = %+v, %v", i, p, ver, err)
		}
		if exp, err := Expiry(tok); exp != c.ExpiresAt || err != nil {
			t.Fatalf("%d: Expiry = %d, %v; want %d", i, exp, err, c.ExpiresAt)
		}
		if ref, err := referenceClaims(plaintextOf(t, k, tok)); err != nil || ref != c {
			t.Fatalf("%d: encoding/json reads the body as %+v, %v; want %+v", i, ref, err, c)
		}
	}
	if minted[GCM] < 1000 || minted[CBC] < 1000 {
		t.Errorf("minted %v, want at least 1000 of each variant", minted)
	}
}

// TestGCMRejectsEveryBitFlip flips each bit of GCM tokens, in the binary form
// and in the text, and expects every result to be rejected.
func TestGCMRejectsEveryBitFlip(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	rng := mrand.New(mrand.NewPCG(4, 5))
	rnd := seeded(6)
	for range 8 {
		p := randomParams(rng)
		p.AppID, p.UserID, p.Variant = 1+rng.Uint32N(1000), "user", GCM
		tok, _, err := k.Mint(rnd, testNow, p)
		if err != nil {
			t.Fatal(err)
		}
		bin := binaryOf(t, tok)
		for i := range len(bin) * 8 {
			b := bytes.Clone(bin)
			b[i/8] ^= 1 << (i % 8)
			assertRejected(t, k, textOf(b), fmt.Sprintf("binary bit %d", i))
		}
		for i := range len(tok) * 8 {
			b := []byte(tok)
			b[i/8] ^= 1 << (i % 8)
			assertRejected(t, k, string(b), fmt.Sprintf("text bit %d", i))
		}
	}
}

func assertRejected(tb testing.TB, k *Key, tok, what string) {
	tb.Helper()
	if c, _, err := k.Decode(tok); err == nil {
		tb.Fatalf("Decode(token with %s flipped) = %+v, nil; want an error", what, c)
	}
	if v, err := Verify(tok, []*Key{k}, testNow, Expect{}); err == nil || v.Variant != 0 {
		tb.Fatalf("Verify(token with %s flipped) = %+v, %v; want an error", what, v, err)
	}
}

// TestCBCTamperingNeverPanics flips each bit of CBC tokens. Some results still
// decode, with other claims: that is why new tokens use GCM.
func TestCBCTamperingNeverPanics(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	tok, _, err := k.Mint(seeded(7), testNow, Params{AppID: 42, UserID: "bob", EffectiveTime: 600, Variant: CBC})
	if err != nil {
		t.Fatal(err)
	}
	bin := binaryOf(t, tok)
	for i := range len(bin) * 8 {
		b := bytes.Clone(bin)
		b[i/8] ^= 1 << (i % 8)
		k.Decode(textOf(b))
		Verify(textOf(b), []*Key{k}, testNow, Expect{})
	}
	for i := range len(tok) * 8 {
		b := []byte(tok)
		b[i/8] ^= 1 << (i % 8)
		k.Decode(string(b))
	}
}

// TestCBCIsMalleable shows the weakness the package doc describes: changing a
// legacy token's IV changes its appID, and the token still decodes.
func TestCBCIsMalleable(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	tok, c, err := k.Mint(seeded(8), testNow, Params{AppID: 1234, UserID: "bob", EffectiveTime: 600, Variant: CBC})
	if err != nil {
		t.Fatal(err)
	}
	bin := binaryOf(t, tok)
	// The body starts {"app_id":1234; its byte 10 is '1', under IV byte 10.
	bin[headerLen+10] ^= '1' ^ '9'
	got, _, err := k.Decode(textOf(bin))
	if err != nil || got.AppID != 9234 || got.UserID != c.UserID {
		t.Errorf("Decode(CBC token with IV changed) = %+v, %v; want app 9234 and no error", got, err)
	}
}

// TestNoRepeatedNonce mints 100,000 tokens of each variant with
// crypto/rand.Reader and checks that no GCM nonce or CBC IV repeats.
func TestNoRepeatedNonce(t *testing.T) {
	t.Parallel()
	const n = 100_000
	k := mustKey(t, testSecret)
	for _, v := range []Variant{GCM, CBC} {
		seen := make(map[string]struct{}, n)
		for range n {
			tok, _, err := k.Mint(rand.Reader, testNow, Params{AppID: 1, UserID: "u", EffectiveTime: 60, Variant: v})
			if err != nil {
				t.Fatal(err)
			}
			f, err := parseFrame(tok)
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := seen[string(f.nonce)]; dup {
				t.Fatalf("%v nonce %x repeated after %d mints", v, f.nonce, len(seen))
			}
			seen[string(f.nonce)] = struct{}{}
		}
	}
}

func TestParseFrameRejects(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	tok, _, err := k.Mint(seeded(9), testNow, Params{AppID: 1, UserID: "u", EffectiveTime: 60})
	if err != nil {
		t.Fatal(err)
	}
	bin := binaryOf(t, tok)
	cbcTok, _, err := k.Mint(seeded(9), testNow, Params{AppID: 1, UserID: "u", EffectiveTime: 60, Variant: CBC})
	if err != nil {
		t.Fatal(err)
	}
	cbcBin := binaryOf(t, cbcTok)
	with := func(b []byte, f func([]byte) []byte) string { return textOf(f(bytes.Clone(b))) }
	tests := []struct {
		name, tok string
		want      error
	}{
		{"empty", "", ErrMalformed},
		{"one char", "0", ErrMalformed},
		{"version 03", "03" + tok[2:], ErrVersion},
		{"version 05", "05" + tok[2:], ErrVersion},
		{"no version", "ab" + tok[2:], ErrMalformed},
		{"prefix only", "04", ErrMalformed},
		{"no padding", strings.TrimRight(tok, "="), ErrMalformed},
		{"URL alphabet", "04" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 30)), ErrMalformed},
		{"line break", tok[:20] + "\n" + tok[20:len(tok)-1], ErrMalformed},
		{"CRLF", tok[:20] + "\r\n" + tok[20:len(tok)-2], ErrMalformed},
		{"space", tok[:20] + " " + tok[21:], ErrMalformed},
		{"too long", "04" + strings.Repeat("A", maxTextLen+4), ErrMalformed},
		{"short header", with(bin, func(b []byte) []byte { return b[:7] }), ErrMalformed},
		{"nonce length past end", with(bin, func(b []byte) []byte { b[8], b[9] = 0xff, 0xff; return b }), ErrMalformed},
		{"cipher length past end", with(bin, func(b []byte) []byte { b[22]++; return b }), ErrMalformed},
		{"GCM nonce 16", with(bin, func(b []byte) []byte { b[9] = 16; return b }), ErrMalformed},
		{"mode 2", with(bin, func(b []byte) []byte { b[len(b)-1] = 2; return b }), ErrMalformed},
		{"two bytes after", with(bin, func(b []byte) []byte { return append(b, 1) }), ErrMalformed},
		{"no mode, GCM nonce", with(bin, func(b []byte) []byte { return b[:len(b)-1] }), ErrMalformed},
		{"CBC partial block", with(cbcBin, func(b []byte) []byte { b[27]--; return b[:len(b)-1] }), ErrMalformed},
		{"CBC empty", with(cbcBin, func(b []byte) []byte { b[26], b[27] = 0, 0; return b[:28] }), ErrMalformed},
		{"GCM shorter than tag", with(bin, func(b []byte) []byte { b[22], b[23] = 0, 15; return append(b[:24+15], 1) }), ErrMalformed},
		{"header expire changed", with(bin, func(b []byte) []byte { b[7]++; return b }), ErrMalformed},
		{"CBC header expire changed", with(cbcBin, func(b []byte) []byte { b[7]++; return b }), ErrMalformed},
		{"tag changed", with(bin, func(b []byte) []byte { b[len(b)-2]++; return b }), ErrBadSecret},
	}
	for _, tt := range tests {
		c, _, err := k.Decode(tt.tok)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Decode = %+v, %v; want %v", tt.name, c, err, tt.want)
		}
		if strings.Contains(fmt.Sprint(err), tt.tok[min(2, len(tt.tok)):]) && len(tt.tok) > 4 {
			t.Errorf("%s: error %q contains the token", tt.name, err)
		}
	}
}

// TestDecodeMalformedBody seals bodies that are not valid claims with a real
// key: GCM says malformed, since the body is authentic; CBC cannot tell a bad
// body from a wrong key.
func TestDecodeMalformedBody(t *testing.T) {
	t.Parallel()
	k := mustKey(t, testSecret)
	for _, body := range []string{
		``, `{}`, `[]`, `{"app_id":1,"user_id":"u","nonce":1,"ctime":1}`,
		`{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":100,"user_id":"v"}`,
		"{\"app_id\":1,\"user_id\":\"\xff\",\"nonce\":1,\"ctime\":1,\"expire\":100}",
	} {
		for _, v := range []Variant{GCM, CBC} {
			tok := seal(t, k, v, 100, []byte(body))
			want := ErrMalformed
			if v == CBC {
				want = ErrBadSecret
			}
			if c, _, err := k.Decode(tok); !errors.Is(err, want) {
				t.Errorf("Decode(%v %q) = %+v, %v; want %v", v, body, c, err, want)
			}
		}
	}
}

// seal builds a token around an arbitrary body.
func seal(tb testing.TB, k *Key, v Variant, expire int64, body []byte) string {
	tb.Helper()
	bin := binary.BigEndian.AppendUint64(nil, uint64(expire))
	if v == GCM {
		nonce := make([]byte, gcmNonceLen)
		ct := k.gcm.Seal(nil, nonce, body, nil)
		bin = binary.BigEndian.AppendUint16(bin, gcmNonceLen)
		bin = append(bin, nonce...)
		bin = binary.BigEndian.AppendUint16(bin, uint16(len(ct)))
		bin = append(bin, ct...)
		return textOf(append(bin, gcmMode))
	}
	iv := make([]byte, cbcIVLen)
	pad := cbcPaddedLen(len(body)) - len(body)
	ct := append(bytes.Clone(body), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(k.block, iv).CryptBlocks(ct, ct)
	bin = binary.BigEndian.AppendUint16(bin, cbcIVLen)
	bin = append(bin, iv...)
	bin = binary.BigEndian.AppendUint16(bin, uint16(len(ct)))
	return textOf(append(bin, ct...))
}

func TestDecodeWrongKey(t *testing.T) {
	t.Parallel()
	k, other := mustKey(t, testSecret), mustKey(t, otherSecret)
	for _, v := range []Variant{GCM, CBC} {
		tok, _, err := k.Mint(seeded(10), testNow, Params{AppID: 1, UserID: "u", EffectiveTime: 60, Variant: v})
		if err != nil {
			t.Fatal(err)
		}
		if c, _, err := other.Decode(tok); !errors.Is(err, ErrBadSecret) {
			t.Errorf("Decode(%v token, wrong key) = %+v, %v; want ErrBadSecret", v, c, err)
		}
		var nilKey *Key
		if c, _, err := nilKey.Decode(tok); !errors.Is(err, ErrBadSecret) {
			t.Errorf("Decode(%v token, nil key) = %+v, %v; want ErrBadSecret", v, c, err)
		}
	}
}
