package idp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authsvc/internal/idp"
)

func Example() {
	secret := []byte("an HS256 secret of 32 bytes or more")
	v, err := idp.New(context.Background(), idp.Config{
		HMACSecret: secret,
		Issuer:     "https://login.example.com/",
		Audience:   "chat-app",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss":     "https://login.example.com/",
		"aud":     "chat-app",
		"sub":     "google-oauth2|123456789012345678901",
		"exp":     now.Add(time.Hour).Unix(),
		"user_id": json.Number("12345678901234567890"),
	}).SignedString(secret)

	claims, err := v.Verify(context.Background(), token, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.Subject)
	fmt.Println(claims.String("user_id"))
	fmt.Println(idp.HashUserID(claims.Issuer, claims.Subject))

	_, err = v.Verify(context.Background(), token, now.Add(2*time.Hour))
	var e *idp.Error
	if errors.As(err, &e) {
		fmt.Println(e.Reason)
	}
	// Output:
	// google-oauth2|123456789012345678901
	// 12345678901234567890
	// ii6ai22fsok2apspd4xbuuomou
	// expired
}
