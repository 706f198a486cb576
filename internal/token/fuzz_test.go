package token

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"authsvc/internal/token/tokenvectors"
)

// addTruncations seeds f with s and every prefix of it.
func addTruncations(f *testing.F, s []byte, add func([]byte)) {
	for i := range len(s) + 1 {
		add(s[:i])
	}
}

// FuzzDecode feeds arbitrary text to Decode, Verify and Expiry with the keys
// of the shared vectors. None may panic, and they must agree with each other.
func FuzzDecode(f *testing.F) {
	vs := tokenvectors.All()
	var keys []*Key
	for _, v := range vs {
		keys = append(keys, mustKey(f, v.Secret))
		addTruncations(f, []byte(v.Token), func(b []byte) { f.Add(string(b)) })
	}
	f.Fuzz(func(t *testing.T, tok string) {
		exp, expErr := Expiry(tok)
		for i, k := range keys {
			c, v, err := k.Decode(tok)
			if expErr != nil {
				if err == nil || !errors.Is(err, firstSentinel(expErr)) {
					t.Fatalf("Expiry = %v but Decode with key %d = %v", expErr, i, err)
				}
				continue
			}
			if err != nil {
				continue
			}
			if v == 0 || c.ExpiresAt != exp {
				t.Fatalf("Decode = %+v, %v; Expiry = %d", c, v, exp)
			}
			got, err := Verify(tok, keys[i:i+1], time.Unix(c.IssuedAt, 0), Expect{})
			if got.Claims != c || got.Variant != v || (err != nil && !errors.Is(err, ErrExpired)) {
				t.Fatalf("Decode = %+v, %v; Verify = %+v, %v", c, v, got, err)
			}
		}
	})
}

// firstSentinel returns the *Error err wraps.
func firstSentinel(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

// FuzzSealedBody seals arbitrary bodies with a real key, so the fuzzer reaches
// the JSON reader through Decode, and compares the result with encoding/json.
func FuzzSealedBody(f *testing.F) {
	k := mustKey(f, testSecret)
	for _, v := range tokenvectors.All() {
		body := plaintextOf(f, mustKey(f, v.Secret), v.Token)
		addTruncations(f, body, func(b []byte) { f.Add(v.Want.Expire, v.Want.Variant == "cbc", bytes.Clone(b)) })
	}
	for _, tt := range claimsCases {
		f.Add(int64(3), false, []byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, expire int64, cbc bool, body []byte) {
		v := GCM
		if cbc {
			v = CBC
		}
		if len(body) > maxCipherLen-gcmTagLen {
			return // too long for the ciphertext length field, with tag or padding
		}
		tok := seal(t, k, v, expire, body)
		got, gotV, err := k.Decode(tok)
		want, wantErr := referenceClaims(body)
		if wantErr == nil && want.ExpiresAt != expire {
			wantErr = errors.New("header expire differs")
		}
		switch {
		case (err == nil) != (wantErr == nil):
			t.Fatalf("Decode(%v %q, header %d) = %+v, %v; encoding/json says %+v, %v", v, body, expire, got, err, want, wantErr)
		case err != nil:
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSecret) {
				t.Fatalf("Decode(%v %q) = %v, want ErrMalformed or ErrBadSecret", v, body, err)
			}
		case got != want || gotV != v:
			t.Fatalf("Decode(%v %q) = %+v, %v; encoding/json says %+v", v, body, got, gotV, want)
		}
	})
}

// FuzzParseClaims compares the hand-written JSON reader with encoding/json.
func FuzzParseClaims(f *testing.F) {
	for _, v := range tokenvectors.All() {
		addTruncations(f, plaintextOf(f, mustKey(f, v.Secret), v.Token), func(b []byte) { f.Add(bytes.Clone(b)) })
	}
	for _, tt := range claimsCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParseClaims(t, body)
	})
}

// FuzzParseRoom compares ParseRoom with encoding/json and checks that what it
// accepts round-trips through Room.Payload.
func FuzzParseRoom(f *testing.F) {
	for _, v := range tokenvectors.All() {
		if v.Want.Payload != "" {
			addTruncations(f, []byte(v.Want.Payload), func(b []byte) { f.Add(bytes.Clone(b)) })
		}
	}
	for _, tt := range roomCases {
		f.Add([]byte(tt.payload))
	}
	f.Add([]byte(` {"stream_id_list":["a","\u00e9\ud800"],"privilege":{"2":1,"1":0},"room_id":"r\"\\"} `))
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkParseRoom(t, payload)
	})
}
