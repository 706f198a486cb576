package main

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1234 (authsvc) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 31 0 0 20 0 8 0 100 0 0", 2810 * time.Millisecond, true},
		// A name with spaces and a ')' of its own.
		{"77 (a) b (c)) R 1 2 3 4 5 6 7 8 9 10 7 3 0 0", 100 * time.Millisecond, true},
		{"77 (a) R 1 2 3 4 5 6 7 8 9 10 7", 0, false}, // no stime
		{"77 authsvc R 1 2 3 4 5 6 7 8 9 10 7 3", 0, false},
		{"77 (a) R 1 2 3 4 5 6 7 8 9 10 x 3", 0, false},
		{"77 (a) R 1 2 3 4 5 6 7 8 9 10 -7 3", 0, false},
		{"77 (a) R 1 2 3 4 5 6 7 8 9 10 9223372036854775807 1", 0, false},
		{"77 (a) R 1 2 3 4 5 6 7 8 9 10 922337203685477580 0", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseProcStat([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseProcStat(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestProcessCPU reads this process's own CPU time, which a busy loop
// cannot make go backwards.
func TestProcessCPU(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	pids := []int{os.Getpid()}
	before, err := processCPU(pids)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 10_000_000 {
		x += i
	}
	after, err := processCPU(pids)
	if err != nil {
		t.Fatal(err)
	}
	if after < before || x == 0 {
		t.Errorf("processCPU went from %v to %v", before, after)
	}
	if _, err := processCPU([]int{1 << 30}); err == nil {
		t.Error("processCPU(no such process) = nil error")
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (authsvc) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 31 0 0 20 0 8 0 100 0 0"))
	f.Add([]byte("1 ()) R 1 2 3 4 5 6 7 8 9 10 11 12"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseProcStat(b)
		if err == nil && d < 0 {
			t.Errorf("parseProcStat(%q) = %v, negative", b, d)
		}
		if err != nil && d != 0 {
			t.Errorf("parseProcStat(%q) = %v with error %v", b, d, err)
		}
	})
}
