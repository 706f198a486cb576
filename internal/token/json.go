package token

import (
	"errors"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// The token body is a small flat JSON object. It is written and read by hand:
// encoding/json costs more than the encryption around it, and minting must stay
// within two allocations. The reader is fuzzed against encoding/json (see
// json_test.go) and follows it where JSON leaves room: escapes of lone UTF-16
// surrogates become U+FFFD and nesting is limited to 10000 levels. It is
// stricter in two ways: the whole text must be valid UTF-8, and a known key may
// appear only once, so that no two readers can disagree about which user_id a
// token carries.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

const hexDigits = "0123456789abcdef"

// quotedLen returns len(appendQuoted(nil, s)).
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		n += int(escapeExtra[s[i]])
	}
	return n
}

// escapeExtra is how many more bytes than one appendQuoted writes for a byte.
var escapeExtra = func() (t [256]uint8) {
	for c := range ' ' {
		t[c] = uint8(len(`\u00XX`) - 1)
	}
	for _, c := range "\"\\\n\r\t" {
		t[c] = 1
	}
	return t
}()

// appendQuoted appends s as a JSON string. Bytes are copied as they are apart
// from the escapes JSON requires, so s must be valid UTF-8 for the result to be
// valid JSON; callers check that first.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain[c] {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// intLen returns the number of bytes strconv.AppendInt writes for v.
func intLen(v int64) int {
	if v < 0 {
		return 1 + uintLen(-uint64(v))
	}
	return uintLen(uint64(v))
}

// uintLen returns the number of decimal digits of u, without the divisions
// a digit loop costs.
func uintLen(u uint64) int {
	n := bits.Len64(u) * 1233 >> 12 // 1233/4096 approximates log10(2), from below
	if n < len(pow10) && u >= pow10[n] {
		n++
	}
	return max(n, 1)
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

var errSyntax = errors.New("invalid JSON")

// scanner reads JSON from buf. String values are unescaped in place, so buf
// must be the caller's own scratch memory; the slices it returns alias buf.
type scanner struct {
	buf []byte
	pos int
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *scanner) peek() byte {
	// Generators write no white space; check for none first, inline.
	if s.pos < len(s.buf) && s.buf[s.pos] > ' ' {
		return s.buf[s.pos]
	}
	s.skipSpace()
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

// consume skips white space and then c, reporting whether c was there.
func (s *scanner) consume(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.pos++
	return true
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.skipSpace()
	return s.pos == len(s.buf)
}

// object reads one JSON object, calling member for each key with the scanner
// positioned at the key's value; member must consume that value.
func (s *scanner) object(member func(key []byte) error) error {
	if !s.consume('{') {
		return errSyntax
	}
	if s.consume('}') {
		return nil
	}
	for {
		if s.peek() != '"' {
			return errSyntax
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if !s.consume(':') {
			return errSyntax
		}
		s.skipSpace()
		if err := member(key); err != nil {
			return err
		}
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			return nil
		}
		return errSyntax
	}
}

// plain marks the bytes that stand for themselves inside a JSON string: all
// but control characters, quote and backslash.
var plain = func() (t [256]bool) {
	for c := ' '; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a JSON string at the current position and returns its unescaped
// contents, which alias s.buf.
func (s *scanner) str() ([]byte, error) {
	b := s.buf
	i := s.pos
	if i >= len(b) || b[i] != '"' {
		return nil, errSyntax
	}
	i++
	start := i
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		s.pos = i + 1
		return b[start:i], nil
	}
	// Unescape in place: w never passes i, since every escape is at least as
	// long as what it stands for.
	w := i
	for i < len(b) {
		c := b[i]
		if plain[c] {
			b[w] = c
			w++
			i++
			continue
		}
		if c == '"' {
			s.pos = i + 1
			return b[start:w], nil
		}
		if c != '\\' || i+1 >= len(b) {
			return nil, errSyntax
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			b[w] = e
		case 'b':
			b[w] = '\b'
		case 'f':
			b[w] = '\f'
		case 'n':
			b[w] = '\n'
		case 'r':
			b[w] = '\r'
		case 't':
			b[w] = '\t'
		case 'u':
			r, ok := hex4(b[i+2:])
			if !ok {
				return nil, errSyntax
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A valid pair becomes one rune. Anything else becomes
				// U+FFFD, and an escape that follows is read on its own,
				// as encoding/json does.
				r2 := rune(-1)
				if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
					if v, ok := hex4(b[i+2:]); ok {
						r2 = v
					}
				}
				if r = utf16.DecodeRune(r, r2); r != utf8.RuneError {
					i += 6
				}
			}
			w += utf8.EncodeRune(b[w:], r)
			continue
		default:
			return nil, errSyntax
		}
		w++
		i += 2
	}
	return nil, errSyntax
}

// hex4 parses four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a JSON number and returns its text.
func (s *scanner) number() ([]byte, error) {
	b := s.buf
	start := s.pos
	i := start
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return nil, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, errSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, errSyntax
		}
	}
	s.pos = i
	return b[start:i], nil
}

var errRange = errors.New("number out of range")

// integer reads a JSON number that must be an integer in [lo, hi]; a fraction
// or exponent is an error even when its value is whole.
func (s *scanner) integer(lo, hi int64) (int64, error) {
	b := s.buf
	i := s.pos
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var u uint64
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		// Eighteen digits cannot pass 1<<63, the magnitude of the
		// smallest int64; from the nineteenth on, check.
		if i-start >= 18 && u > (1<<63-d)/10 {
			return 0, errRange
		}
		u = u*10 + d
	}
	switch {
	case i == start:
		return 0, errSyntax
	case b[start] == '0' && i-start > 1:
		return 0, errSyntax // leading zero
	case i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'):
		return 0, errRange // not an integer
	}
	s.pos = i
	var v int64
	switch {
	case !neg && u <= 1<<63-1:
		v = int64(u)
	case neg && lo < 0:
		v = -int64(u) // -(1<<63) wraps to itself, which is right
	default:
		// A positive value past int64 or, when lo >= 0, any minus sign:
		// strconv.ParseUint rejects "-0" too.
		return 0, errRange
	}
	if v < lo || v > hi {
		return 0, errRange
	}
	return v, nil
}

// skip reads and discards any JSON value; depth counts the containers it is
// already inside.
func (s *scanner) skip(depth int) error {
	switch s.peek() {
	case '{':
		if depth >= maxDepth {
			return errSyntax
		}
		return s.object(func([]byte) error { return s.skip(depth + 1) })
	case '[':
		if depth >= maxDepth {
			return errSyntax
		}
		s.pos++
		if s.consume(']') {
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.consume(',') {
				continue
			}
			if s.consume(']') {
				return nil
			}
			return errSyntax
		}
	case '"':
		_, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, err := s.number()
		return err
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.buf)-s.pos < len(lit) || string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		return errSyntax
	}
	s.pos += len(lit)
	return nil
}
