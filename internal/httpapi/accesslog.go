package httpapi

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// accessLine is one request in the access log: the attributes of its
// "request" record, in the order they are written.
type accessLine struct {
	requestID  string
	method     string // logMethod's
	route      string
	status     int
	bytes      int
	durationUS int64 // whole microseconds
	clientIP   string
}

// attrs are l's attributes for slog.
func (l *accessLine) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("request_id", l.requestID),
		slog.String("method", l.method),
		slog.String("route", l.route),
		slog.Int("status", l.status),
		slog.Int("bytes", l.bytes),
		// Whole microseconds: slog writes a float with encoding/json,
		// which cost a fifth of the access log line.
		slog.Int64("duration_us", l.durationUS),
		slog.String("client_ip", l.clientIP),
	}
}

// accessMessage is the access log records' message.
const accessMessage = "request"

// lineBufs recycles the buffers access log lines are appended into.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// logRequest writes l to the access log at level. With Deps.AccessLog set
// the line is appended by hand (appendAccessLine), as slog would write it:
// building and formatting a slog.Record was about 2 µs of the token
// route's CPU. Lines appendAccessLine leaves to slog, and all of them
// without an AccessLog, go through the logger.
func (s *Server) logRequest(ctx context.Context, level slog.Level, l *accessLine) {
	if s.accessLog != nil {
		bp := lineBufs.Get().(*[]byte)
		defer lineBufs.Put(bp)
		if b, ok := appendAccessLine((*bp)[:0], time.Now(), level, l); ok {
			*bp = b
			_, _ = s.accessLog.Write(b) // as slog.Logger drops its handler's error
			return
		}
	}
	s.log.LogAttrs(ctx, level, accessMessage, l.attrs()...)
}

// appendAccessLine appends the record {t, level, "request", l.attrs()} as
// slog.NewJSONHandler(w, nil) writes it to w, newline included:
// TestAccessLineLikeSlog and FuzzAccessLine hold the two equal. It reports
// false, and the caller logs through slog, when a string needs escaping,
// t's year has not four digits or t is zero (slog leaves the time out); a
// request's fields never do.
func appendAccessLine(b []byte, t time.Time, level slog.Level, l *accessLine) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 || t.IsZero() {
		return b, false
	}
	for _, s := range [...]string{l.requestID, l.method, l.route, l.clientIP} {
		if !plainJSON(s) { // stricter than slog, which leaves <, > and & as they are
			return b, false
		}
	}
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, level.String()...)
	b = append(b, `","msg":"`+accessMessage+`","request_id":"`...)
	b = append(b, l.requestID...)
	b = append(b, `","method":"`...)
	b = append(b, l.method...)
	b = append(b, `","route":"`...)
	b = append(b, l.route...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(l.bytes), 10)
	b = append(b, `,"duration_us":`...)
	b = strconv.AppendInt(b, l.durationUS, 10)
	b = append(b, `,"client_ip":"`...)
	b = append(b, l.clientIP...)
	return append(b, "\"}\n"...), true
}
