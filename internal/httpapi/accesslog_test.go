package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// slogLine is the line slog.NewJSONHandler writes for the access log
// record {t, level, l}: what appendAccessLine must append.
func slogLine(t time.Time, level slog.Level, l *accessLine) string {
	var buf bytes.Buffer
	r := slog.NewRecord(t, level, accessMessage, 0)
	r.AddAttrs(l.attrs()...)
	_ = slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r)
	return buf.String()
}

// checkAccessLine fails unless appendAccessLine writes what slog writes for
// {t, level, l}, or leaves a line to slog that needs it to.
func checkAccessLine(t *testing.T, at time.Time, level slog.Level, l *accessLine) {
	t.Helper()
	got, ok := appendAccessLine([]byte("kept "), at, level, l)
	if !bytes.HasPrefix(got, []byte("kept ")) {
		t.Fatalf("appendAccessLine(%q, ...) lost what the buffer held: %q", "kept ", got)
	}
	got = got[len("kept "):]
	plain := at.Year() >= 0 && at.Year() <= 9999 && !at.IsZero() &&
		plainJSON(l.requestID) && plainJSON(l.method) && plainJSON(l.route) && plainJSON(l.clientIP)
	switch {
	case ok != plain:
		t.Fatalf("appendAccessLine(%v, %v, %+v) reports %v, want %v", at, level, l, ok, plain)
	case !ok:
		if len(got) != 0 {
			t.Errorf("appendAccessLine(%v, %v, %+v) = false, and appended %q", at, level, l, got)
		}
	default:
		if want := slogLine(at, level, l); string(got) != want {
			t.Errorf("appendAccessLine(%v, %v, %+v) =\n%s\nwant (slog's)\n%s", at, level, l, got, want)
		}
	}
}

func TestAccessLineLikeSlog(t *testing.T) {
	t.Parallel()
	token := accessLine{requestID: "1a2b3c4d-42", method: "POST", route: "/v1/token", status: 200, bytes: 312,
		durationUS: 27, clientIP: "127.0.0.1"}
	with := func(f func(*accessLine)) *accessLine { l := token; f(&l); return &l }
	utc := time.Date(2026, 12, 2, 8, 6, 27, 123456789, time.UTC)
	tests := []struct {
		name  string
		at    time.Time
		level slog.Level
		line  *accessLine
	}{
		{"token", utc, slog.LevelInfo, &token},
		{"probe at debug", utc, slog.LevelDebug, with(func(l *accessLine) { l.route, l.method = "/healthz", "HEAD" })},
		{"now, monotonic clock", time.Now(), slog.LevelInfo, &token},
		{"whole second", utc.Truncate(time.Second), slog.LevelInfo, &token},
		{"trailing zeros", utc.Truncate(time.Millisecond), slog.LevelInfo, &token},
		{"offset zone", utc.In(time.FixedZone("CST", 8*3600)), slog.LevelInfo, &token},
		{"negative offset", utc.In(time.FixedZone("", -(3*3600 + 30*60))), slog.LevelInfo, &token},
		{"odd level", utc, slog.LevelInfo + 2, &token},
		{"zero values", utc, slog.LevelInfo, &accessLine{}},
		{"negative numbers", utc, slog.LevelInfo, with(func(l *accessLine) { l.status, l.bytes, l.durationUS = -1, -2, -3 })},
		{"IPv6", utc, slog.LevelInfo, with(func(l *accessLine) { l.clientIP = "2001:db8::1" })},
		{"cut method", utc, slog.LevelInfo, with(func(l *accessLine) { l.method = logMethod(strings.Repeat("M", 40)) })},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), slog.LevelInfo, &token},
		{"year 10000, left to slog", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, &token},
		{"year -1, left to slog", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, &token},
		{"zero time, left to slog", time.Time{}, slog.LevelInfo, &token},
		{"zero time in a zone, left to slog", time.Time{}.In(time.FixedZone("X", 3600)), slog.LevelInfo, &token},
		{"quote, left to slog", utc, slog.LevelInfo, with(func(l *accessLine) { l.method = `P"ST` })},
		{"backslash, left to slog", utc, slog.LevelInfo, with(func(l *accessLine) { l.route = `\` })},
		{"control byte, left to slog", utc, slog.LevelInfo, with(func(l *accessLine) { l.requestID = "a\nb" })},
		{"HTML, left to slog", utc, slog.LevelInfo, with(func(l *accessLine) { l.clientIP = "<&>" })},
		{"non-ASCII, left to slog", utc, slog.LevelInfo, with(func(l *accessLine) { l.route = "/é\u2028" })},
		{"invalid UTF-8, left to slog", utc, slog.LevelInfo, with(func(l *accessLine) { l.route = "\xff" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkAccessLine(t, tt.at, tt.level, tt.line)
		})
	}
}

func FuzzAccessLine(f *testing.F) {
	f.Add("1a2b3c4d-42", "POST", "/v1/token", "127.0.0.1", 200, 312, int64(27), int64(1796198787), int64(123456789), 0, 0)
	f.Add("x", "GET", "/healthz", "::1", 404, 0, int64(0), int64(0), int64(0), -4, 3600)
	f.Add("a\"b", "P\\ST", "/\u2028\xff", "<&>", -1, -1, int64(-1), int64(-62135596801), int64(-1), 2, -37800)
	f.Fuzz(func(t *testing.T, requestID, method, route, clientIP string, status, n int, durationUS, sec, nsec int64, level, offset int) {
		at := time.Unix(sec, nsec).In(time.FixedZone("", offset%(18*3600)))
		l := &accessLine{requestID: requestID, method: method, route: route, status: status, bytes: n,
			durationUS: durationUS, clientIP: clientIP}
		checkAccessLine(t, at, slog.Level(level), l)
		// The same with every string made plain, so that most inputs
		// reach the hand-written line and not only slog's.
		for _, s := range []*string{&l.requestID, &l.method, &l.route, &l.clientIP} {
			*s = plainOnly(*s)
		}
		checkAccessLine(t, at, slog.Level(level), l)
	})
}

// plainOnly is s with each byte plainJSON refuses replaced by '_'.
func plainOnly(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !plainJSON(string(c)) {
			b[i] = '_'
		}
	}
	return string(b)
}

// TestLogRequest: with an AccessLog, a line appendAccessLine can write and
// one it leaves to slog come out alike, each a JSON object with the
// access log's fields.
func TestLogRequest(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer // one goroutine writes: no lock needed
	s := &Server{log: slog.New(slog.NewJSONHandler(&buf, nil)), accessLog: &buf}
	plain := accessLine{requestID: "r-1", method: "POST", route: "/v1/token", status: 200, bytes: 10, durationUS: 5, clientIP: "127.0.0.1"}
	escaped := plain
	escaped.requestID = `r"2`
	s.logRequest(context.Background(), slog.LevelInfo, &plain)
	s.logRequest(context.Background(), slog.LevelInfo, &escaped)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("logRequest twice wrote %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"r-1", `r"2`} {
		var got map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, lines[i])
		}
		if _, err := time.Parse(time.RFC3339Nano, got["time"].(string)); err != nil {
			t.Errorf("line %d: time: %v", i, err)
		}
		delete(got, "time")
		wantLine := map[string]any{"level": "INFO", "msg": "request", "request_id": want, "method": "POST",
			"route": "/v1/token", "status": 200.0, "bytes": 10.0, "duration_us": 5.0, "client_ip": "127.0.0.1"}
		if diff := cmp.Diff(wantLine, got); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i, diff)
		}
	}
}
