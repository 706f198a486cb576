package idp

import "crypto/sha256"

// userIDAlphabet is base32 in lower case: the alphabet of the userIDs that
// authsvc assigns itself, [a-z2-7].
const userIDAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// HashUserID derives a userID for the provider subject subject of issuer:
// the first 128 bits of SHA-256(issuer || 0x00 || subject), encoded as
// unpadded base32 (RFC 4648) in lower case: 26 characters of [a-z2-7]. The
// result satisfies the ZIM userID rule (letters and digits, at most 32 bytes)
// for any input, and depends on nothing but its arguments, so it is the same
// across restarts and machines. New refuses an Issuer containing a NUL byte,
// which keeps the hashed input unambiguous. With 128 bits, a collision among
// a billion subjects has a chance of about 1 in 10^21.
func HashUserID(issuer, subject string) string {
	h := sha256.New()
	h.Write([]byte(issuer))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	var sum [sha256.Size]byte
	b := h.Sum(sum[:0])[:16]

	// 128 bits are 25 groups of 5 and 3 bits left over, which the last
	// character carries in its high bits, as base32 does.
	var out [26]byte
	var acc uint32
	bits := 0
	n := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[n] = userIDAlphabet[acc>>bits&31]
			n++
		}
	}
	out[n] = userIDAlphabet[acc<<(5-bits)&31]
	return string(out[:])
}
