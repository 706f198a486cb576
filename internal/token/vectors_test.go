package token

import (
	"testing"

	"authsvc/internal/token/tokenvectors"
)

func mustKey(tb testing.TB, secret string) *Key {
	tb.Helper()
	k, err := NewKey([]byte(secret))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestVectors(t *testing.T) {
	t.Parallel()
	for _, v := range tokenvectors.All() {
		k := mustKey(t, v.Secret)
		wantVariant, err := ParseVariant(v.Want.Variant)
		if err != nil {
			t.Fatal(err)
		}
		want := Claims{
			AppID:     v.Want.AppID,
			UserID:    v.Want.UserID,
			Nonce:     v.Want.Nonce,
			IssuedAt:  v.Want.Ctime,
			ExpiresAt: v.Want.Expire,
			Payload:   v.Want.Payload,
		}
		c, variant, err := k.Decode(v.Token)
		if err != nil || c != want || variant != wantVariant {
			t.Errorf("Decode(%s token) = %+v, %v, %v; want %+v, %v, nil", v.Generator, c, variant, err, want, wantVariant)
		}
		exp, err := Expiry(v.Token)
		if err != nil || exp != want.ExpiresAt {
			t.Errorf("Expiry(%s token) = %d, %v; want %d, nil", v.Generator, exp, err, want.ExpiresAt)
		}
	}
}
