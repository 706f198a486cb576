package token

import (
	"encoding/json"
	"os"
	"testing"
)

// vector is one entry of testdata/token04-vectors.json: tokens made by ZEGO's
// own Go generator (CBC) and by an independent implementation (GCM).
type vector struct {
	Generator string `json:"generator"`
	Secret    string `json:"secret"`
	Token     string `json:"token"`
	Want      struct {
		Variant string `json:"variant"`
		AppID   uint32 `json:"appID"`
		UserID  string `json:"userID"`
		Ctime   int64  `json:"ctime"`
		Expire  int64  `json:"expire"`
		Nonce   int32  `json:"nonce"`
		Payload string `json:"payload"`
	} `json:"want"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	b, err := os.ReadFile("testdata/token04-vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no vectors")
	}
	return vs
}

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
	for _, v := range loadVectors(t) {
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
