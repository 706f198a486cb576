// Package apps is the model of the ZEGO apps authsvc mints Token04
// credentials for, and the token policy that goes with them: which app a
// request means, how long its tokens live, how a token is renewed and what
// an SDK would accept. It does no I/O besides reading an apps file and knows
// nothing of HTTP; handlers and commands call it.
package apps

import (
	"errors"
	"fmt"
	"io"
	"time"

	"authsvc/internal/token"
)

// TTLBounds are the token lifetimes an app allows: requests may choose any
// whole number of seconds in [Min, Max]; Default applies when they don't.
type TTLBounds struct {
	Default time.Duration
	Min     time.Duration
	Max     time.Duration
}

// Validate checks the bounds against each other and against what the ZIM SDK
// accepts (token.MinEffectiveTime to token.MaxEffectiveTime seconds).
func (b TTLBounds) Validate() error {
	lo, hi := time.Duration(token.MinEffectiveTime)*time.Second, time.Duration(token.MaxEffectiveTime)*time.Second
	for _, d := range []time.Duration{b.Default, b.Min, b.Max} {
		if d%time.Second != 0 {
			return fmt.Errorf("token lifetime %v is not a whole number of seconds", d)
		}
		if d < lo || d > hi {
			return fmt.Errorf("token lifetime %v is outside %v..%v, the range the ZIM SDK accepts", d, lo, hi)
		}
	}
	if b.Min > b.Default || b.Default > b.Max {
		return fmt.Errorf("token lifetimes must satisfy min (%v) <= default (%v) <= max (%v)", b.Min, b.Default, b.Max)
	}
	return nil
}

// App is one ZEGO app the service mints tokens for.
type App struct {
	ID uint32
	// Keys holds the current secret first, then previous ones that renew
	// and verify still accept during a rotation. New tokens use Keys[0].
	Keys    []*token.Key
	TTL     TTLBounds
	Variant token.Variant // token.GCM unless the app's SDKs need the legacy variant
	ZIM     ZIM           // keeping the app's ZIM users in step; zero is off
	// Secret is the current ServerSecret, as configured, that Keys[0] was
	// made from: it signs the calls to ZEGO's server API (ZIM sync, RTC
	// kick-outs). It is a secret: never log it.
	Secret []byte
}

// Validate reports an app the service cannot mint for.
func (a *App) Validate() error {
	if a.ID == 0 {
		return errors.New("app ID 0 is not valid")
	}
	if len(a.Keys) == 0 {
		return fmt.Errorf("app %d has no secret", a.ID)
	}
	if err := a.TTL.Validate(); err != nil {
		return fmt.Errorf("app %d: %w", a.ID, err)
	}
	if a.Variant != token.GCM && a.Variant != token.CBC {
		return fmt.Errorf("app %d: unknown token variant %d", a.ID, a.Variant)
	}
	if err := a.ZIM.Validate(); err != nil {
		return fmt.Errorf("app %d: %w", a.ID, err)
	}
	return nil
}

// UnknownAppError is a request for an app that is not configured.
type UnknownAppError struct {
	ID uint32
}

func (e *UnknownAppError) Error() string { return fmt.Sprintf("app %d is not configured", e.ID) }

// TTLError is a requested token lifetime outside the app's bounds, in
// seconds.
type TTLError struct {
	Requested, Min, Max int64
}

func (e *TTLError) Error() string {
	return fmt.Sprintf("token lifetime %d s is outside the app's %d..%d s", e.Requested, e.Min, e.Max)
}

// EffectiveTime returns the token lifetime in seconds: the app's default,
// or the requested one when it lies within the app's bounds (else a
// *TTLError).
func (a *App) EffectiveTime(requested *int64) (int64, error) {
	if requested == nil {
		return int64(a.TTL.Default / time.Second), nil
	}
	lo, hi := int64(a.TTL.Min/time.Second), int64(a.TTL.Max/time.Second)
	if *requested < lo || *requested > hi {
		return 0, &TTLError{Requested: *requested, Min: lo, Max: hi}
	}
	return *requested, nil
}

// Issue returns the parameters of a new token of this app for userID, with
// no payload.
func (a *App) Issue(userID string, requested *int64) (token.Params, error) {
	ttl, err := a.EffectiveTime(requested)
	if err != nil {
		return token.Params{}, err
	}
	return token.Params{AppID: a.ID, UserID: userID, EffectiveTime: ttl, Variant: a.Variant}, nil
}

// Renewal returns the parameters of old's renewal at now: the same user and
// payload (room privileges), in the variant the app is configured with now,
// so that an app moved off CBC renews its CBC tokens into GCM ones. Its
// expiry never moves backwards: the ZIM SDK rejects a renewal that expires
// earlier than the token it replaces (error 6000106).
func (a *App) Renewal(old token.Verified, requested *int64, now time.Time) (token.Params, error) {
	p, err := a.Issue(old.UserID, requested)
	if err != nil {
		return token.Params{}, err
	}
	p.Payload = old.Payload
	if keep := old.ExpiresAt - now.Unix(); keep > p.EffectiveTime {
		p.EffectiveTime = keep
	}
	return p, nil
}

// Mint mints a token with the app's current secret.
func (a *App) Mint(rand io.Reader, now time.Time, p token.Params) (string, token.Claims, error) {
	return a.Keys[0].Mint(rand, now, p)
}

// Set is the apps a service mints for, one of them the default.
type Set struct {
	Apps    []App
	Default uint32 // the app of requests that name none
}

// Validate reports a set the service cannot run with.
func (s Set) Validate() error {
	if len(s.Apps) == 0 {
		return errors.New("no app configured")
	}
	seen := make(map[uint32]bool, len(s.Apps))
	for i := range s.Apps {
		a := &s.Apps[i]
		if a.ID != 0 && seen[a.ID] {
			return fmt.Errorf("app %d configured twice", a.ID)
		}
		if err := a.Validate(); err != nil {
			return err
		}
		seen[a.ID] = true
	}
	if !seen[s.Default] {
		return fmt.Errorf("default app %d is not configured", s.Default)
	}
	return nil
}

// Find returns app id, or nil when it is not configured.
func (s Set) Find(id uint32) *App {
	for i := range s.Apps {
		if s.Apps[i].ID == id {
			return &s.Apps[i]
		}
	}
	return nil
}

// Pick returns the app a request names, or the default app when it names
// none; an app that is not configured is an *UnknownAppError.
func (s Set) Pick(id *uint32) (*App, error) {
	want := s.Default
	if id != nil {
		want = *id
	}
	if app := s.Find(want); app != nil {
		return app, nil
	}
	return nil, &UnknownAppError{ID: want}
}

// Verify finds the app whose secrets authenticate tok (only app `only` when
// it is not 0) and verifies the token with them. The app and the claims are
// returned whenever some secret authenticated the token, even when err
// reports it expired or otherwise unacceptable.
func (s Set) Verify(tok string, now time.Time, only uint32) (*App, token.Verified, error) {
	for i := range s.Apps {
		app := &s.Apps[i]
		if only != 0 && app.ID != only {
			continue
		}
		v, err := token.Verify(tok, app.Keys, now, token.Expect{AppID: app.ID})
		if errors.Is(err, token.ErrBadSecret) {
			continue
		}
		if err != nil && v.UserID == "" {
			return nil, v, err // malformed or wrong version: no other app will do better
		}
		return app, v, err
	}
	return nil, token.Verified{}, token.ErrBadSecret
}

// Renewable verifies a token presented for renewal: like Verify, except
// that a token expired less than grace ago is still accepted.
func (s Set) Renewable(tok string, now time.Time, grace time.Duration) (*App, token.Verified, error) {
	app, old, err := s.Verify(tok, now, 0)
	if errors.Is(err, token.ErrExpired) && now.Unix()-old.ExpiresAt < int64(grace/time.Second) {
		err = nil
	}
	return app, old, err
}

// Usable says what an SDK would think of tok at now: Verify (with app
// `only` when it is not nil, which must be configured), then, when userID is
// not nil, the token must be that user's, and it must expire neither within
// MinRemaining nor more than token.MaxEffectiveTime seconds ahead, as the
// ZIM SDK demands. The claims are returned whenever some secret
// authenticated the token.
func (s Set) Usable(tok string, now time.Time, only *uint32, userID *string) (token.Verified, error) {
	var id uint32
	if only != nil {
		if s.Find(*only) == nil {
			return token.Verified{}, &UnknownAppError{ID: *only}
		}
		id = *only
	}
	_, v, err := s.Verify(tok, now, id)
	if err != nil {
		return v, err
	}
	if userID != nil && *userID != v.UserID {
		return v, token.ErrUserMismatch
	}
	switch left := v.ExpiresAt - now.Unix(); {
	case left < MinRemaining:
		return v, token.ErrTTLTooShort
	case left > token.MaxEffectiveTime:
		return v, token.ErrTTLTooLong
	}
	return v, nil
}

// MinRemaining is the least time, in seconds, a token must have left for the
// ZIM SDK to log in with it.
const MinRemaining = 30
