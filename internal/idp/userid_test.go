package idp_test

import (
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
	"testing"

	"authsvc/internal/idp"
)

func TestHashUserIDGolden(t *testing.T) {
	t.Parallel()
	// Computed outside Go (Python's hashlib and base64). A change here
	// would give every provider user a new userID: never change them.
	tests := []struct{ issuer, subject, want string }{
		{"https://idp.example.com/", "google-oauth2|123456789012345678901", "pmzampm3y5q4fo3mprxemc7x5m"},
		{"", "", "ny2axhh7wn5jrhffittlw6akfq"},
	}
	for _, tt := range tests {
		if got := idp.HashUserID(tt.issuer, tt.subject); got != tt.want {
			t.Errorf("HashUserID(%q, %q) = %q, want %q", tt.issuer, tt.subject, got, tt.want)
		}
	}
}

// TestHashUserIDEncoding checks the hand-written encoder against
// encoding/base32.
func TestHashUserIDEncoding(t *testing.T) {
	t.Parallel()
	enc := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	for i := range 1000 {
		iss, sub := "https://issuer-"+strconv.Itoa(i%7), strings.Repeat("s", i%50)+strconv.Itoa(i)
		sum := sha256.Sum256([]byte(iss + "\x00" + sub))
		if got, want := idp.HashUserID(iss, sub), enc.EncodeToString(sum[:16]); got != want {
			t.Fatalf("HashUserID(%q, %q) = %q, want %q", iss, sub, got, want)
		}
	}
}

func TestHashUserIDRule(t *testing.T) {
	t.Parallel()
	subjects := []string{"", "a", "google-oauth2|123456789012345678901", "Zoë 🦊", "\x00\xff", strings.Repeat("x", 10000)}
	for _, sub := range subjects {
		id := idp.HashUserID("https://idp.example.com/", sub)
		if len(id) != 26 {
			t.Errorf("HashUserID(_, %q) = %q, %d bytes; want 26", sub, id, len(id))
		}
		for _, c := range []byte(id) {
			if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
				t.Errorf("HashUserID(_, %q) = %q, has %q outside [a-z2-7]", sub, id, c)
			}
		}
		if again := idp.HashUserID("https://idp.example.com/", sub); again != id {
			t.Errorf("HashUserID(_, %q) = %q, then %q", sub, id, again)
		}
	}
	// The issuer takes part: one subject at two providers is two users.
	if a, b := idp.HashUserID("https://a.example/", "1"), idp.HashUserID("https://b.example/", "1"); a == b {
		t.Errorf("HashUserID gives %q for subject 1 of two issuers", a)
	}
	// The separator keeps issuer and subject apart.
	if a, b := idp.HashUserID("ab", "c"), idp.HashUserID("a", "bc"); a == b {
		t.Errorf("HashUserID(ab, c) = HashUserID(a, bc) = %q", a)
	}
}

func TestHashUserIDDistinct(t *testing.T) {
	t.Parallel()
	const n = 100_000
	seen := make(map[string]string, n)
	for i := range n {
		sub := "auth0|" + strconv.Itoa(i)
		id := idp.HashUserID(testIssuer, sub)
		if prev, ok := seen[id]; ok {
			t.Fatalf("HashUserID gives %q for both %q and %q", id, prev, sub)
		}
		seen[id] = sub
	}
}

func TestLooksLikeJWT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		want bool
	}{
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", true},
		{"a.b.c", true},
		{"a-_.b.c-_", true},
		{"a.b.", true}, // unsecured shape; Verify refuses it
		{"", false},
		{"a.b", false},
		{"a.b.c.d", false},
		{".b.c", false},
		{"a..c", false},
		{"..", false},
		{"a.b.c=", false},
		{"a.b+c.d", false},
		{"a b.c.d", false},
		{"04AAAAAGmJtDcAEPMzmZ2dKZnNPwf7fqB8o8sAkC9Jqhw5ghQ2rOh0E==", false}, // a Token04
		{"Bearer a.b.c", false},
		{"a.b.c\n", false},
		{"a." + strings.Repeat("b", idp.MaxTokenLen) + ".c", false},
	}
	for _, tt := range tests {
		if got := idp.LooksLikeJWT(tt.s); got != tt.want {
			t.Errorf("LooksLikeJWT(%.40q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
