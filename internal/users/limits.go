package users

import "fmt"

// Limits tighten the bounds of a user's fields below the package's own
// (MaxAvatarURLLen, MaxExtendedDataLen), for a registry whose users must
// also be accepted elsewhere: ZIM refuses an avatar URL over 500 bytes and,
// by default, extra data over 2 KB, and a user synced there must never
// exist here in a shape ZIM refuses. A zero field keeps the package bound;
// a limit above the package bound changes nothing.
type Limits struct {
	AvatarURLLen    int
	ExtendedDataLen int
	// Why names whose limits these are, for messages ("ZIM's").
	Why string
}

// SetLimits replaces the limits new writes are validated against; users
// already stored are left as they are. It is safe to call while the store
// is in use (a reload of the configuration does).
func (s *Store) SetLimits(l Limits) {
	s.limits.Store(&l)
}

// currentLimits returns the limits in force, the zero Limits when none
// were set.
func (s *Store) currentLimits() Limits {
	if l := s.limits.Load(); l != nil {
		return *l
	}
	return Limits{}
}

// check adds to fields the errors of the values that pass the package's
// bounds but not these limits.
func (l Limits) check(fields []FieldError, avatarURL, extendedData *string) []FieldError {
	over := func(field, code string, n, max int) {
		why := l.Why
		if why == "" {
			why = "the configured"
		}
		fields = append(fields, FieldError{Field: field, Code: code, Rule: RuleTooLong, Offset: max,
			Message: fmt.Sprintf("%s is %d bytes, longer than %s maximum of %d", field, n, why, max)})
	}
	if avatarURL != nil && l.AvatarURLLen > 0 && len(*avatarURL) > l.AvatarURLLen && len(*avatarURL) <= MaxAvatarURLLen {
		over("avatarURL", CodeInvalidAvatarURL, len(*avatarURL), l.AvatarURLLen)
	}
	if extendedData != nil && l.ExtendedDataLen > 0 && len(*extendedData) > l.ExtendedDataLen && len(*extendedData) <= MaxExtendedDataLen {
		over("extendedData", CodeInvalidExtendedData, len(*extendedData), l.ExtendedDataLen)
	}
	return fields
}
