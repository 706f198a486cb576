package token_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"authsvc/internal/token"
)

func Example() {
	current, err := token.NewKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	previous, err := token.NewKey([]byte("fedcba9876543210fedcba9876543210"))
	if err != nil {
		panic(err)
	}
	now := time.Now()
	room := token.Room{RoomID: "room-1", Login: true, Publish: true}
	tok, _, err := current.Mint(rand.Reader, now, token.Params{
		AppID:         1234567890,
		UserID:        "alice",
		EffectiveTime: 3600,
		Payload:       room.Payload(),
	})
	if err != nil {
		panic(err)
	}

	// During a rotation, verify with the current secret first.
	keys := []*token.Key{current, previous}
	v, err := token.Verify(tok, keys, now, token.Expect{AppID: 1234567890, UserID: "alice"})
	fmt.Println(v.UserID, v.Variant, v.KeyIndex, err)

	r, err := token.ParseRoom(v.Payload)
	fmt.Println(r.RoomID, r.Login, r.Publish, err)

	_, err = token.Verify(tok, keys, now.Add(2*time.Hour), token.Expect{})
	var te *token.Error
	if errors.As(err, &te) {
		fmt.Println(te.Reason, te.ZIMCode, te.RTCCode)
	}
	// Output:
	// alice gcm 0 <nil>
	// room-1 true true <nil>
	// expired 6000106 1002078
}
