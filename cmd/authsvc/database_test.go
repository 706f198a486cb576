package main

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"authsvc.db", "authsvc.db"},
		{"/var/lib/authsvc/a b?c#d.db", "/var/lib/authsvc/a b?c#d.db"},
		{"postgres://u:s3cret@db:5432/authsvc?sslmode=require", "postgres://u:redacted@db:5432/authsvc?sslmode=require"},
		{"postgres://u@db/authsvc?password=s3cret&sslmode=disable", "postgres://u@db/authsvc?password=redacted&sslmode=disable"},
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:redacted@127.0.0.1:6379/0"},
		{"postgres://u:s3cret%@127.0.0.1/db", "postgres://redacted@127.0.0.1/db"}, // does not parse
		{"postgres://u:s3c/ret@127.0.0.1/db", "postgres://redacted@127.0.0.1/db"}, // does not parse either
		{"postgres://db.internal/authsvc", "postgres://db.internal/authsvc"},
	} {
		got := redactURL(tc.in)
		if strings.Contains(got, "s3cret") || strings.Contains(got, "s3c/ret") {
			t.Errorf("redactURL(%q) = %q: the password is still there", tc.in, got)
		}
		if got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
