package token

import (
	"errors"
	"fmt"
	"time"
)

// Expect narrows what Verify accepts.
type Expect struct {
	AppID  uint32 // 0 = any
	UserID string // "" = any
}

// Verified is a token that some key authenticated.
type Verified struct {
	Claims
	Variant  Variant
	KeyIndex int // index into keys of the secret that authenticated the token (0 = current)
}

// Verify authenticates tok with keys, tried in order: the current secret
// first, then previous ones still honoured during a rotation. The first key
// that authenticates the token decides; no key doing so is ErrBadSecret.
//
// Verify then checks, in this order, the app, the user, a ctime more than
// ClockSkew after now (ErrNotYetValid) and the expiry: a token has expired
// when its expire is not after now.Unix().
//
// Once a key has authenticated the token, the returned Verified is filled in
// even when err is not nil (expired, wrong app or user, issued in the future),
// so that support tools can show what the token says. Its Variant is non-zero
// exactly when that is the case.
func Verify(tok string, keys []*Key, now time.Time, want Expect) (Verified, error) {
	f, err := parseFrame(tok)
	if err != nil {
		return Verified{}, err
	}
	v := Verified{KeyIndex: -1}
	for i, k := range keys {
		if i > 0 {
			f.restore()
		}
		c, err := k.open(f)
		if errors.Is(err, ErrBadSecret) {
			continue
		}
		if err != nil {
			return Verified{}, err
		}
		v = Verified{Claims: c, Variant: f.variant, KeyIndex: i}
		break
	}
	if v.KeyIndex < 0 {
		return Verified{}, fmt.Errorf("%w: none of %d keys", ErrBadSecret, len(keys))
	}
	t := now.Unix()
	switch {
	case want.AppID != 0 && v.AppID != want.AppID:
		return v, fmt.Errorf("%w: token for app %d, want %d", ErrAppMismatch, v.AppID, want.AppID)
	case want.UserID != "" && v.UserID != want.UserID:
		// The user IDs stay out of the message: errors end up in logs.
		return v, ErrUserMismatch
	case v.IssuedAt > t+ClockSkew:
		return v, fmt.Errorf("%w: ctime %d is %d s after now", ErrNotYetValid, v.IssuedAt, v.IssuedAt-t)
	case v.ExpiresAt <= t:
		return v, fmt.Errorf("%w: %d s ago", ErrExpired, t-v.ExpiresAt)
	}
	return v, nil
}
