package users

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are the argon2id cost parameters for new password hashes. Each
// hash records its own parameters, so changing them later leaves existing
// passwords working.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
}

// DefaultHashParams are the production parameters: OWASP's recommended
// minimum for argon2id (19 MiB, 2 passes, 1 lane), about 20–40 ms on one core
// of a current server. One lane keeps a hash on one core, so the bound on
// concurrent hashing (one per GOMAXPROCS) bounds CPU and memory alike: at most
// GOMAXPROCS × 19 MiB during a login burst.
var DefaultHashParams = HashParams{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16 // bytes of random salt per hash
	keyLen  = 32 // bytes of argon2id output
)

// validate rejects parameters argon2 would panic on or that are not a
// deliberate choice.
func (p HashParams) validate() error {
	if p.Time < 1 || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) {
		return fmt.Errorf("argon2id parameters m=%d t=%d p=%d: need t >= 1, p >= 1, m >= 8*p", p.Memory, p.Time, p.Threads)
	}
	return nil
}

// encodeHash returns the PHC string of an argon2id hash.
func encodeHash(p HashParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// errBadHash means a stored password hash could not be parsed.
var errBadHash = errors.New("malformed password hash")

// decodeHash parses a PHC string written by encodeHash.
func decodeHash(s string) (p HashParams, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	var m, t, l uint64
	for i, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || i > 2 || k != "mtp"[i:i+1] {
			return p, nil, nil, errBadHash
		}
		bits := 32
		if k == "p" {
			bits = 8
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			l = n
		}
	}
	p = HashParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(l)}
	if p.validate() != nil {
		return p, nil, nil, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// hashPassword returns the PHC string of password under the store's
// parameters and a fresh salt. It waits its turn to hash; see acquire.
func (s *Store) hashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if err := s.readRand(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	if err := s.acquire(ctx); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, s.hash.Time, s.hash.Memory, s.hash.Threads, keyLen)
	s.release()
	return encodeHash(s.hash, salt, key), nil
}

// verifyPassword reports whether password matches the PHC string encoded,
// comparing in constant time.
func (s *Store) verifyPassword(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	if err := s.acquire(ctx); err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	s.release()
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// acquire waits for a hashing slot, or for ctx to end. Each hash allocates
// its full memory cost at once, so without this a burst of logins could
// allocate without bound.
func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) release() { <-s.hashSlots }
