package apps

import (
	"errors"
	"fmt"
	"net/url"
)

// ZIM limits that apply whatever ZEGO configured for an app.
const (
	// MaxZIMAvatarURLLen is ZIM's limit on UserAvatar (error 660700007).
	MaxZIMAvatarURLLen = 500
	// DefaultZIMExtraMaxBytes is ZIM's default limit on a user's Extra.
	DefaultZIMExtraMaxBytes = 2048
	// MaxZIMExtraMaxBytes is the most ZEGO raises Extra's limit to.
	MaxZIMExtraMaxBytes = 32 << 10
	// MinCallbackSecretLen is the shortest callback secret accepted: the
	// secret is all that authenticates a callback, so it must not be
	// guessable.
	MinCallbackSecretLen = 16
)

// Default hosts of ZEGO's server APIs; regional ones exist.
const (
	DefaultZIMAPIURL = "https://zim-api.zego.im"
	DefaultRTCAPIURL = "https://rtc-api.zego.im"
)

// UnknownSender says what a before_send_msg callback gets for a sender the
// registry does not know: never registered, or deleted since.
type UnknownSender int

const (
	// BlockUnknown refuses the message: a deleted user's token may still
	// be valid in ZIM, and deleted looks exactly like unknown.
	BlockUnknown UnknownSender = iota
	// AllowUnknown lets it through, for apps whose ZIM users are not all
	// in the registry.
	AllowUnknown
)

// ParseUnknownSender reads "block" or "allow".
func ParseUnknownSender(v string) (UnknownSender, error) {
	switch v {
	case "block":
		return BlockUnknown, nil
	case "allow":
		return AllowUnknown, nil
	}
	return 0, fmt.Errorf("%q is neither block nor allow", v)
}

func (u UnknownSender) String() string {
	if u == AllowUnknown {
		return "allow"
	}
	return "block"
}

// ZIM is how an app's users are kept in step with ZIM. The zero value
// turns everything off.
type ZIM struct {
	// Sync registers users in ZIM and sends their profile changes there,
	// and makes the registry refuse profiles ZIM would refuse.
	Sync bool
	// APIURL and RTCAPIURL are the bases of ZEGO's server APIs; empty
	// means the defaults.
	APIURL, RTCAPIURL string
	// CallbackSecret authenticates ZIM's callbacks; nil leaves the
	// callback route a 404 for this app. It is a secret: never log it.
	CallbackSecret []byte
	// ExtraMaxBytes is the longest extendedData ZIM takes as Extra for
	// this app; 0 means DefaultZIMExtraMaxBytes.
	ExtraMaxBytes int
	// UnknownSender is the verdict on messages of senders the registry
	// does not know.
	UnknownSender UnknownSender
}

// ExtraLimit is the longest extendedData ZIM accepts for the app.
func (z ZIM) ExtraLimit() int {
	if z.ExtraMaxBytes == 0 {
		return DefaultZIMExtraMaxBytes
	}
	return z.ExtraMaxBytes
}

// Validate reports a ZIM configuration the service cannot run with. Its
// errors never quote the secret.
func (z ZIM) Validate() error {
	for _, u := range []struct{ name, v string }{{"ZIM API URL", z.APIURL}, {"RTC API URL", z.RTCAPIURL}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil {
			return fmt.Errorf("%s %q is not an http or https URL with a host", u.name, u.v)
		}
	}
	if z.CallbackSecret != nil && len(z.CallbackSecret) < MinCallbackSecretLen {
		return fmt.Errorf("ZIM callback secret is %d bytes; use at least %d", len(z.CallbackSecret), MinCallbackSecretLen)
	}
	if n := z.ExtraMaxBytes; n != 0 && (n < 1 || n > MaxZIMExtraMaxBytes) {
		return fmt.Errorf("ZIM extra max bytes %d is not from 1 to %d", n, MaxZIMExtraMaxBytes)
	}
	if z.UnknownSender != BlockUnknown && z.UnknownSender != AllowUnknown {
		return errors.New("ZIM unknown sender policy is neither block nor allow")
	}
	return nil
}

// ZIMURL is the base of the app's ZIM server API.
func (z ZIM) ZIMURL() string {
	if z.APIURL == "" {
		return DefaultZIMAPIURL
	}
	return z.APIURL
}

// RTCURL is the base of the app's RTC server API.
func (z ZIM) RTCURL() string {
	if z.RTCAPIURL == "" {
		return DefaultRTCAPIURL
	}
	return z.RTCAPIURL
}

// ProfileLimits are the longest avatarURL and extendedData every app that
// syncs to ZIM accepts, so that no user exists here in a shape ZIM refuses;
// ok is false when no app syncs.
func (s Set) ProfileLimits() (avatarURL, extendedData int, ok bool) {
	for _, a := range s.Apps {
		if !a.ZIM.Sync {
			continue
		}
		if !ok || a.ZIM.ExtraLimit() < extendedData {
			extendedData = a.ZIM.ExtraLimit()
		}
		avatarURL, ok = MaxZIMAvatarURLLen, true
	}
	return avatarURL, extendedData, ok
}
