package main

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// hangGuardLong bounds a wait for an event of a running server. It only
// fails a test that would otherwise hang; no test waits for it to pass.
const hangGuardLong = 30 * time.Second

// lineWatch is a writer that keeps the complete lines written to it and
// wakes whoever awaits a line, so a test waits for the server's log rather
// than polling it.
type lineWatch struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	grew    chan struct{} // closed, and replaced, when a line is complete
}

func newLineWatch() *lineWatch { return &lineWatch{grew: make(chan struct{})} }

func (l *lineWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	grew := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = append([]byte(nil), l.partial[i+1:]...)
		grew = true
	}
	if grew {
		close(l.grew)
		l.grew = make(chan struct{})
	}
	return len(p), nil
}

// await returns the lines written so far once ok holds for them. It fails
// the test when gone is closed first (the writer will write no more) or
// when the hang guard expires.
func (l *lineWatch) await(t testing.TB, what string, gone <-chan struct{}, ok func(lines []string) bool) []string {
	t.Helper()
	guard := time.NewTimer(hangGuardLong)
	defer guard.Stop()
	for {
		l.mu.Lock()
		lines, grew := l.lines, l.grew
		l.mu.Unlock()
		if ok(lines) {
			return lines
		}
		select {
		case <-grew:
		case <-gone:
			// A last line may have come with the end.
			l.mu.Lock()
			lines = l.lines
			l.mu.Unlock()
			if ok(lines) {
				return lines
			}
			t.Fatalf("waiting for %s: the server stopped", what)
		case <-guard.C:
			t.Fatalf("waiting for %s: nothing after %v", what, hangGuardLong)
		}
	}
}
