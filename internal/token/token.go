package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Variant is the encryption a token uses.
type Variant uint8

const (
	// GCM is the current variant: AES-256-GCM, mode byte 1. Mint uses it
	// unless asked otherwise.
	GCM Variant = iota + 1
	// CBC is the legacy variant for old SDKs: AES-256-CBC with PKCS#7
	// padding and no integrity check.
	CBC
)

// CBCWarning says, for people reading a CBC token's claims, why they cannot
// be trusted as a GCM token's can.
const CBCWarning = "CBC tokens have no integrity check: anyone who has seen one can change its first 16 bytes " +
	"of plaintext undetected, so these claims are not authenticated; move the app to the GCM variant"

// Authenticated reports whether a token of variant v that decrypts under a
// key was made by that key's holder: true for GCM, false for CBC, whose
// first block anyone can alter.
func (v Variant) Authenticated() bool { return v == GCM }

// String returns "gcm" or "cbc".
func (v Variant) String() string {
	switch v {
	case GCM:
		return "gcm"
	case CBC:
		return "cbc"
	}
	return fmt.Sprintf("Variant(%d)", uint8(v))
}

// ParseVariant is the inverse of Variant.String.
func ParseVariant(s string) (Variant, error) {
	switch s {
	case "gcm":
		return GCM, nil
	case "cbc":
		return CBC, nil
	}
	return 0, fmt.Errorf("token: unknown variant %q (want gcm or cbc)", s)
}

// Limits on what Mint accepts and Verify tolerates.
const (
	// MinEffectiveTime is the shortest lifetime Mint accepts, in seconds: the
	// ZIM SDK refuses a token that expires in under 30 s (6000108).
	MinEffectiveTime = 31
	// MaxEffectiveTime is the longest lifetime Mint accepts, in seconds (24
	// days): the ZIM SDK refuses a token that expires further ahead (6000109).
	MaxEffectiveTime = 2_073_600
	// MaxUserIDLen is the longest userID Mint accepts, in bytes.
	MaxUserIDLen = 64
	// ClockSkew is how many seconds a token's ctime may lie ahead of now before
	// Verify says ErrNotYetValid. Tokens are minted and verified on different
	// hosts; a minute covers clocks kept by NTP with room to spare, while a
	// ctime further ahead means the minting host's clock is wrong, and its
	// tokens then also live longer than intended: worth an error to notice.
	ClockSkew = 60
)

// Layout of the binary token, after "04" and base64:
//
//	expire int64 BE | nonce length uint16 BE | nonce | ciphertext length uint16 BE | ciphertext | mode (GCM only)
const (
	version      = "04"
	secretLen    = 32
	gcmNonceLen  = 12
	gcmTagLen    = 16
	gcmMode      = 1
	cbcIVLen     = aes.BlockSize
	headerLen    = 8 + 2 // expire and nonce length
	maxCipherLen = math.MaxUint16
	// maxBinLen bounds a well-formed binary token; maxTextLen bounds its
	// text, so that Decode never allocates for more.
	maxBinLen  = headerLen + cbcIVLen + 2 + maxCipherLen + 1
	maxTextLen = len(version) + (maxBinLen+2)/3*4 // b64EncodedLen(maxBinLen)
)

// Key is one 32-byte ServerSecret with its AES key schedule and GCM instance
// built once. It is safe for concurrent use. Formatting a Key prints nothing
// of the secret.
type Key struct {
	block cipher.Block
	gcm   cipher.AEAD
}

// NewKey prepares secret for minting and verifying. A ZEGO ServerSecret is the
// 32 characters of the console's string, used as bytes as they are. A secret
// of another length yields an error wrapping ErrSecretLength that states the
// length, never the secret.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) != secretLen {
		return nil, fmt.Errorf("%w: got %d bytes", ErrSecretLength, len(secret))
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return &Key{block: block, gcm: gcm}, nil
}

// Format keeps the key schedule, from which the secret can be recovered, out
// of logs: every verb prints the same placeholder.
func (Key) Format(f fmt.State, verb rune) {
	io.WriteString(f, "token.Key(redacted)")
}

// Params says what to mint.
type Params struct {
	AppID         uint32
	UserID        string
	EffectiveTime int64   // seconds; the token expires this long after now
	Payload       string  // raw payload string ("" = none); use Room.Payload for RTC privileges
	Variant       Variant // zero means GCM
}

// Mint makes a token for p, issued at now. It reads all its randomness, the
// GCM nonce or CBC IV and the JSON nonce, from rnd in one io.ReadFull. Outside
// tests rnd must be crypto/rand.Reader: two GCM tokens with the same nonce
// under one secret reveal the XOR of their bodies and GCM's authentication
// key, with which anyone can forge tokens. It returns the token and the
// claims it carries.
//
// Mint rejects appID 0 (ErrInvalidAppID), a userID that is empty, longer than
// MaxUserIDLen bytes or not valid UTF-8 (ErrInvalidUserID), an effective time
// outside [MinEffectiveTime, MaxEffectiveTime] (ErrTTLTooShort, ErrTTLTooLong)
// and a payload that is not valid UTF-8 or too large (ErrInvalidPayload).
// Invalid UTF-8 is rejected rather than replaced, so that a token always
// carries exactly the strings it was minted with.
func (k *Key) Mint(rnd io.Reader, now time.Time, p Params) (string, Claims, error) {
	if p.Variant == 0 {
		p.Variant = GCM
	}
	var ivLen, trailer int
	switch p.Variant {
	case GCM:
		ivLen, trailer = gcmNonceLen, 1 // the mode byte
	case CBC:
		ivLen = cbcIVLen
	default:
		return "", Claims{}, fmt.Errorf("token: unknown variant %d", p.Variant)
	}
	switch {
	case p.AppID == 0:
		return "", Claims{}, fmt.Errorf("%w: app ID 0", ErrInvalidAppID)
	case p.UserID == "":
		return "", Claims{}, fmt.Errorf("%w: empty", ErrInvalidUserID)
	case len(p.UserID) > MaxUserIDLen:
		return "", Claims{}, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidUserID, len(p.UserID), MaxUserIDLen)
	case !utf8.ValidString(p.UserID):
		return "", Claims{}, fmt.Errorf("%w: not valid UTF-8", ErrInvalidUserID)
	case p.EffectiveTime < MinEffectiveTime:
		return "", Claims{}, fmt.Errorf("%w: %d s, at least %d s required", ErrTTLTooShort, p.EffectiveTime, MinEffectiveTime)
	case p.EffectiveTime > MaxEffectiveTime:
		return "", Claims{}, fmt.Errorf("%w: %d s, at most %d s allowed", ErrTTLTooLong, p.EffectiveTime, MaxEffectiveTime)
	case !utf8.ValidString(p.Payload):
		return "", Claims{}, fmt.Errorf("%w: not valid UTF-8", ErrInvalidPayload)
	}
	c := Claims{
		AppID:     p.AppID,
		UserID:    p.UserID,
		IssuedAt:  now.Unix(),
		ExpiresAt: now.Unix() + p.EffectiveTime,
		Payload:   p.Payload,
	}
	if c.ExpiresAt < c.IssuedAt {
		return "", Claims{}, fmt.Errorf("%w: expire overflows", ErrTTLTooLong)
	}

	// Size the body for the longest nonce, so the limit does not depend on
	// the random draw; the token then uses at most 11 bytes less.
	maxBody := bodyFixed + intLen(int64(p.AppID)) + quotedLen(p.UserID) + intLen(math.MinInt32) +
		intLen(c.IssuedAt) + intLen(c.ExpiresAt) + quotedLen(p.Payload)
	maxCipher := maxBody + gcmTagLen
	if p.Variant == CBC {
		maxCipher = cbcPaddedLen(maxBody)
	}
	if maxCipher > maxCipherLen {
		return "", Claims{}, fmt.Errorf("%w: %d bytes, too large for a token", ErrInvalidPayload, len(p.Payload))
	}
	bodyAt := headerLen + ivLen + 2
	maxBin := bodyAt + maxCipher + trailer

	// The random bytes land in the binary token at the nonce, followed by
	// the four bytes of the JSON nonce, which the ciphertext then overwrites.
	buf := make([]byte, maxBin)
	iv := buf[headerLen : headerLen+ivLen]
	if _, err := io.ReadFull(rnd, buf[headerLen:headerLen+ivLen+4]); err != nil {
		return "", Claims{}, fmt.Errorf("token: read randomness: %w", err)
	}
	c.Nonce = int32(binary.BigEndian.Uint32(buf[headerLen+ivLen:]))

	binary.BigEndian.PutUint64(buf, uint64(c.ExpiresAt))
	binary.BigEndian.PutUint16(buf[8:], uint16(ivLen))
	body := appendClaims(buf[bodyAt:bodyAt], &c)
	var bin []byte
	switch p.Variant {
	case GCM:
		ct := k.gcm.Seal(body[:0], iv, body, nil)
		binary.BigEndian.PutUint16(buf[bodyAt-2:], uint16(len(ct)))
		bin = buf[:bodyAt+len(ct)+1]
		bin[len(bin)-1] = gcmMode
	case CBC:
		n := cbcPaddedLen(len(body))
		pt := buf[bodyAt : bodyAt+n]
		pad := byte(n - len(body))
		for i := len(body); i < n; i++ {
			pt[i] = pad
		}
		k.encryptCBC(iv, pt)
		binary.BigEndian.PutUint16(buf[bodyAt-2:], uint16(n))
		bin = buf[:bodyAt+n]
	}
	return encodeText(bin), c, nil
}

// encodeText returns "04" and the base64 of bin. The text is built in a
// strings.Builder through a stack buffer, so the string costs one allocation
// of its own size and no copy.
func encodeText(bin []byte) string {
	var sb strings.Builder
	sb.Grow(len(version) + b64EncodedLen(len(bin)))
	sb.WriteString(version)
	var chunk [128]byte // 96 bytes of binary at a time; a multiple of 3 keeps padding to the end
	for len(bin) > 0 {
		n := min(len(bin), len(chunk)/4*3)
		m := b64EncodedLen(n)
		base64.StdEncoding.Encode(chunk[:m], bin[:n])
		sb.Write(chunk[:m])
		bin = bin[n:]
	}
	return sb.String()
}

// cbcPaddedLen is the length of n bytes after PKCS#7 padding.
func cbcPaddedLen(n int) int {
	return (n/aes.BlockSize + 1) * aes.BlockSize
}

// frame is a token's binary layout, checked but not decrypted.
type frame struct {
	variant Variant
	expire  int64
	nonce   []byte // GCM nonce or CBC IV
	cipher  []byte // decrypted in place
	text    string // the base64 text, to restore bin for another key
	bin     []byte
}

// parseFrame decodes tok's text and checks its layout. Every length is
// checked against the bytes actually present, and the only allocation is
// proportional to len(tok), which is bounded, whatever the length fields say.
func parseFrame(tok string) (frame, error) {
	if len(tok) < len(version) {
		return frame{}, fmt.Errorf("%w: too short", ErrMalformed)
	}
	if tok[:len(version)] != version {
		if isDigit(tok[0]) && isDigit(tok[1]) {
			return frame{}, fmt.Errorf("%w: version %q", ErrVersion, tok[:len(version)])
		}
		return frame{}, fmt.Errorf("%w: no version prefix", ErrMalformed)
	}
	text := tok[len(version):]
	if len(text) > maxTextLen {
		return frame{}, fmt.Errorf("%w: %d characters, too long", ErrMalformed, len(tok))
	}
	bin := make([]byte, b64DecodedLen(text))
	if _, ok := decodeBase64(bin, text); !ok {
		return frame{}, fmt.Errorf("%w: bad base64", ErrMalformed)
	}

	if len(bin) < headerLen {
		return frame{}, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	f := frame{expire: int64(binary.BigEndian.Uint64(bin)), text: text, bin: bin}
	rest := bin[8:]
	var ok bool
	if f.nonce, rest, ok = lengthPrefixed(rest); !ok {
		return frame{}, fmt.Errorf("%w: truncated nonce", ErrMalformed)
	}
	if f.cipher, rest, ok = lengthPrefixed(rest); !ok {
		return frame{}, fmt.Errorf("%w: truncated ciphertext", ErrMalformed)
	}
	switch {
	case len(rest) == 0:
		f.variant = CBC
		if len(f.nonce) != cbcIVLen || len(f.cipher) == 0 || len(f.cipher)%aes.BlockSize != 0 {
			return frame{}, fmt.Errorf("%w: bad CBC layout", ErrMalformed)
		}
	case len(rest) == 1 && rest[0] == gcmMode:
		f.variant = GCM
		if len(f.nonce) != gcmNonceLen || len(f.cipher) < gcmTagLen {
			return frame{}, fmt.Errorf("%w: bad GCM layout", ErrMalformed)
		}
	default:
		return frame{}, fmt.Errorf("%w: %d bytes after the ciphertext", ErrMalformed, len(rest))
	}
	return f, nil
}

// restore undoes a decryption in place, so that another key can be tried.
// Decoding the text again is cheaper than keeping a copy of the ciphertext
// for the rare token that the first key does not open.
func (f frame) restore() {
	decodeBase64(f.bin, f.text)
}

// lengthPrefixed splits a uint16 BE length and that many bytes off b,
// reporting whether b held them.
func lengthPrefixed(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return nil, nil, false
	}
	return b[2 : 2+n : 2+n], b[2+n:], true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// open decrypts and parses f with k, overwriting f.cipher. It returns
// ErrBadSecret when k does not authenticate f, so that the caller may restore
// f and try another key.
func (k *Key) open(f frame) (Claims, error) {
	body, err := k.decrypt(f)
	if err != nil {
		return Claims{}, err
	}
	c, err := parseClaims(body)
	if err != nil {
		if f.variant == CBC {
			// Without integrity, garbage from a wrong key and a damaged
			// body look the same.
			return Claims{}, ErrBadSecret
		}
		return Claims{}, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	if c.ExpiresAt != f.expire {
		return Claims{}, fmt.Errorf("%w: header expire %d differs from body expire %d", ErrMalformed, f.expire, c.ExpiresAt)
	}
	return c, nil
}

// decrypt returns f's plaintext body, decrypted in place, or ErrBadSecret.
func (k *Key) decrypt(f frame) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("%w: no key", ErrBadSecret)
	}
	if f.variant == GCM {
		// Exact overlap of output and input is allowed. On failure Open
		// clears the output, hence restore.
		body, err := k.gcm.Open(f.cipher[:0], f.nonce, f.cipher, nil)
		if err != nil {
			return nil, ErrBadSecret
		}
		return body, nil
	}
	pt := f.cipher
	k.decryptCBC(f.nonce, pt)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, ErrBadSecret
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, ErrBadSecret
		}
	}
	return pt[:len(pt)-pad], nil
}

// encryptCBC encrypts b in place in CBC mode. crypto/cipher's CBC mode
// would copy the whole AES key schedule into a fresh allocation per token.
func (k *Key) encryptCBC(iv, b []byte) {
	prev := iv
	for i := 0; i < len(b); i += aes.BlockSize {
		blk := b[i : i+aes.BlockSize]
		subtle.XORBytes(blk, blk, prev)
		k.block.Encrypt(blk, blk)
		prev = blk
	}
}

// decryptCBC decrypts b in place in CBC mode, last block first, so that each
// block's predecessor is still ciphertext when it is needed.
func (k *Key) decryptCBC(iv, b []byte) {
	for i := len(b) - aes.BlockSize; i >= 0; i -= aes.BlockSize {
		blk := b[i : i+aes.BlockSize]
		k.block.Decrypt(blk, blk)
		prev := iv
		if i > 0 {
			prev = b[i-aes.BlockSize : i]
		}
		subtle.XORBytes(blk, blk, prev)
	}
}

// Decode authenticates tok with k and returns what it says. It checks neither
// time, app nor user: use Verify for that.
func (k *Key) Decode(tok string) (Claims, Variant, error) {
	f, err := parseFrame(tok)
	if err != nil {
		return Claims{}, 0, err
	}
	c, err := k.open(f)
	if err != nil {
		return Claims{}, 0, err
	}
	return c, f.variant, nil
}

// Expiry returns the expire from tok's clear binary header, without any
// secret, after checking tok's layout. Nothing vouches for the value: anyone
// can write any expire into a token's header; only Decode and Verify compare
// it with the encrypted one.
func Expiry(tok string) (int64, error) {
	f, err := parseFrame(tok)
	if err != nil {
		return 0, err
	}
	return f.expire, nil
}
