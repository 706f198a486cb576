package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"0", 0},
		{"-5m", -5 * time.Minute},
		{"7d", 7 * 24 * time.Hour},
		{"0d", 0},
		{"1d12h", 36 * time.Hour},
		{"30d", 720 * time.Hour},
		{"1d1.5h", 24*time.Hour + 90*time.Minute},
	}
	for _, tt := range tests {
		if got, err := parseDuration(tt.in); err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "soon", "d", "1", "-1d", "+1d", "1.5d", "1d-1h", "1d+1h", "1dd", "1d2d", "d1h",
		"106752d", "106751d24h", "99999999999999999999d"} {
		got, err := parseDuration(in)
		if err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
			continue
		}
		if want := " is not a duration such as 90s, 15m, 1h or 7d"; !strings.HasSuffix(err.Error(), want) {
			t.Errorf("parseDuration(%q) error %q, want it to end %q", in, err, want)
		}
	}
}

// FuzzParseDuration: any text is a duration or an error, never a panic;
// without a 'd' it means what time.ParseDuration says; with one, the days
// and the rest add up.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "7d", "1d12h", "-5m", "106751d", "1d-1h", "0.5d", "d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseDuration(s)
		day, rest, hasDay := strings.Cut(s, "d")
		if !hasDay {
			want, werr := time.ParseDuration(s)
			if (err == nil) != (werr == nil) || got != want {
				t.Fatalf("parseDuration(%q) = %v, %v; time.ParseDuration = %v, %v", s, got, err, want, werr)
			}
			return
		}
		if err != nil {
			return
		}
		days, derr := parseDuration(day + "d")
		r := time.Duration(0)
		if rest != "" {
			var rerr error
			if r, rerr = time.ParseDuration(rest); rerr != nil {
				t.Fatalf("parseDuration(%q) = %v, but its rest %q is no duration", s, got, rest)
			}
		}
		if derr != nil || got != days+r || got < 0 || days > math.MaxInt64-r {
			t.Fatalf("parseDuration(%q) = %v, want %v + %v", s, got, days, r)
		}
	})
}
