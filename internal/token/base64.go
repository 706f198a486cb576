package token

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unsafe"
)

// Tokens use standard base64 with padding. The codec here does what
// encoding/base64's StdEncoding.Strict() does, a third faster, and reads the
// text straight from the token string. base64_test.go checks it against
// encoding/base64.

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// b64Values maps a character to its 6-bit value, or 0xff outside the alphabet.
var b64Values = func() (t [256]uint8) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(b64Alphabet) {
		t[b64Alphabet[i]] = uint8(i)
	}
	return t
}()

// b64EncodedLen is the length of the base64 text of n bytes.
func b64EncodedLen(n int) int { return (n + 2) / 3 * 4 }

// encodeBase64 writes the base64 of src to dst[:b64EncodedLen(len(src))].
func encodeBase64(dst, src []byte) {
	// Six bytes at a time, read as one big-endian word.
	for len(src) >= 8 && len(dst) >= 8 {
		v := binary.BigEndian.Uint64(src)
		_ = dst[7]
		dst[0] = b64Alphabet[v>>58]
		dst[1] = b64Alphabet[v>>52&63]
		dst[2] = b64Alphabet[v>>46&63]
		dst[3] = b64Alphabet[v>>40&63]
		dst[4] = b64Alphabet[v>>34&63]
		dst[5] = b64Alphabet[v>>28&63]
		dst[6] = b64Alphabet[v>>22&63]
		dst[7] = b64Alphabet[v>>16&63]
		src, dst = src[6:], dst[8:]
	}
	for len(src) >= 3 && len(dst) >= 4 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		dst[0], dst[1], dst[2], dst[3] = b64Alphabet[v>>18&63], b64Alphabet[v>>12&63], b64Alphabet[v>>6&63], b64Alphabet[v&63]
		src, dst = src[3:], dst[4:]
	}
	switch len(src) {
	case 1:
		v := uint(src[0]) << 16
		dst[0], dst[1], dst[2], dst[3] = b64Alphabet[v>>18&63], b64Alphabet[v>>12&63], '=', '='
	case 2:
		v := uint(src[0])<<16 | uint(src[1])<<8
		dst[0], dst[1], dst[2], dst[3] = b64Alphabet[v>>18&63], b64Alphabet[v>>12&63], b64Alphabet[v>>6&63], '='
	}
}

// b64DecodedLen is the length of the bytes text stands for, if it is valid.
func b64DecodedLen(text string) int {
	n := len(text) / 4 * 3
	if len(text) >= 4 && len(text)%4 == 0 {
		if text[len(text)-1] == '=' {
			n--
		}
		if text[len(text)-2] == '=' {
			n--
		}
	}
	return n
}

// decodeBase64 decodes text into dst, which must hold b64DecodedLen(text)
// bytes, and returns the number of bytes written. It accepts only what
// encodeBase64 writes: whole quanta, padding only at the end, zero unused
// bits in the last character and no other characters (line breaks included),
// so that every binary token has exactly one text.
func decodeBase64(dst []byte, text string) (int, bool) {
	if len(text)%4 != 0 || len(dst) < b64DecodedLen(text) {
		return 0, false
	}
	if len(text) == 0 {
		return 0, true
	}
	n := 0
	body := text[:len(text)-4]
	// Eight characters at a time into one big-endian word, while dst has
	// room for all eight bytes of the store.
	for len(body) >= 8 && len(dst)-n >= 8 {
		a, b, c, d := b64Values[body[0]], b64Values[body[1]], b64Values[body[2]], b64Values[body[3]]
		e, f, g, h := b64Values[body[4]], b64Values[body[5]], b64Values[body[6]], b64Values[body[7]]
		if a|b|c|d|e|f|g|h == 0xff {
			return 0, false
		}
		binary.BigEndian.PutUint64(dst[n:], uint64(a)<<58|uint64(b)<<52|uint64(c)<<46|uint64(d)<<40|
			uint64(e)<<34|uint64(f)<<28|uint64(g)<<22|uint64(h)<<16)
		body, n = body[8:], n+6
	}
	for len(body) >= 4 {
		a, b, c, d := b64Values[body[0]], b64Values[body[1]], b64Values[body[2]], b64Values[body[3]]
		if a|b|c|d == 0xff {
			return 0, false
		}
		v := uint(a)<<18 | uint(b)<<12 | uint(c)<<6 | uint(d)
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		body, n = body[4:], n+3
	}
	last := text[len(text)-4:]
	a, b := b64Values[last[0]], b64Values[last[1]]
	if a|b == 0xff {
		return 0, false
	}
	switch {
	case last[2] == '=' && last[3] == '=':
		if b&0x0f != 0 {
			return 0, false
		}
		dst[n] = a<<2 | b>>4
		return n + 1, true
	case last[3] == '=':
		c := b64Values[last[2]]
		if c == 0xff || c&0x03 != 0 {
			return 0, false
		}
		dst[n], dst[n+1] = a<<2|b>>4, b<<4|c>>2
		return n + 2, true
	}
	c, d := b64Values[last[2]], b64Values[last[3]]
	if c|d == 0xff {
		return 0, false
	}
	dst[n], dst[n+1], dst[n+2] = a<<2|b>>4, b<<4|c>>2, c<<6|d
	return n + 3, true
}

// decodeBase64Std decodes text into dst, which must hold b64DecodedLen(text)
// bytes, and returns the number of bytes written. It accepts only what
// encodeBase64 writes: whole quanta, padding only at the end, zero unused
// bits in the last character and no other characters, so that every binary
// token has exactly one text. Strict() enforces all of it but line breaks,
// which encoding/base64 skips wherever they are.
func decodeBase64Std(dst []byte, text string) (int, bool) {
	if strings.ContainsAny(text, "\r\n") || len(dst) < b64DecodedLen(text) {
		return 0, false
	}
	// Decode only reads its source, so the string's bytes serve as they are
	// instead of a copy the size of the token.
	n, err := base64.StdEncoding.Strict().Decode(dst, unsafe.Slice(unsafe.StringData(text), len(text)))
	return n, err == nil
}
