package main

import (
	"net/url"
)

// redactURL returns v with any password it carries replaced, for logs and
// errors: the user info's password and a password query parameter (which
// PostgreSQL URLs accept). v is returned unchanged when it is not a URL with
// a scheme, such as a SQLite path.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return v
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "redacted")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
