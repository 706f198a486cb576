package main

import (
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
)

// redactURL returns v with any password it carries replaced, for logs and
// errors: the user info's password and a password query parameter (which
// PostgreSQL URLs accept). A SQLite path is returned unchanged. Something
// that looks like a URL but does not parse (a password with an unescaped
// '%' or '/') loses everything between "://" and its last '@'.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		scheme, rest, ok := strings.Cut(v, "://")
		at := strings.LastIndex(rest, "@")
		if !ok || at < 0 {
			return v
		}
		return scheme + "://redacted" + rest[at:]
	}
	if u.Scheme == "" || u.Opaque != "" {
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

// listenLog logs the state of the users cache's notification listener: each
// loss once, however many reconnection attempts fail after it, and each
// recovery.
type listenLog struct {
	logger *slog.Logger
	mu     sync.Mutex
	down   bool // a loss was logged and no reconnection since
	heard  bool // connected at least once
}

func (l *listenLog) Notified(string)     {}
func (l *listenLog) Confirmed(time.Time) {}

func (l *listenLog) Reconnected() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		l.logger.Info("hearing other processes' user changes again; the users cache was emptied and is loaded again")
	}
	l.down, l.heard = false, true
}

func (l *listenLog) Disconnected(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return
	}
	l.down = true
	msg := "stopped hearing other processes' user changes; the users cache falls back to a 500 ms lifetime until it hears them again"
	if !l.heard {
		msg = "cannot hear other processes' user changes; the users cache falls back to a 500 ms lifetime until it can"
	}
	l.logger.Warn(msg, "error", err.Error())
}
