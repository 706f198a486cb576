package main

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"authsvc/internal/testlog"
)

// TestLogWriterBuffers: lines wait at most logFlushEvery, a warning takes
// the lines before it out at once, a full buffer is written, and Close
// leaves nothing behind.
func TestLogWriterBuffers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var out testlog.Buffer
		lw := newLogWriter(&out)
		log := slog.New(flushingHandler{slog.NewJSONHandler(lw, nil), lw})

		log.Info("first")
		log.Info("second")
		if got := out.String(); got != "" {
			t.Fatalf("written before the flush interval: %q", got)
		}
		time.Sleep(logFlushEvery - time.Millisecond)
		synctest.Wait()
		if got := out.String(); got != "" {
			t.Fatalf("written %v early: %q", time.Millisecond, got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := out.String(); strings.Count(got, "\n") != 2 || !strings.Contains(got, "first") || !strings.Contains(got, "second") {
			t.Fatalf("after %v: %q, want both lines", logFlushEvery, got)
		}

		log.Info("third")
		log.Warn("trouble")
		if got := out.String(); !strings.Contains(got, `"msg":"third"`) || !strings.HasSuffix(got, "\n") || !strings.Contains(got, "trouble") {
			t.Fatalf("a warning did not take the buffered lines out at once: %q", got)
		}

		// A full buffer is written without waiting.
		before := len(out.String())
		long := strings.Repeat("x", 1000)
		for range logBufferSize/1000 + 1 {
			log.Info(long)
		}
		if got := len(out.String()); got <= before {
			t.Fatalf("a full buffer was not written: %d bytes before, %d after", before, got)
		}

		log.With("k", "v").WithGroup("g").Info("last", "a", 1)
		if err := lw.Close(); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); !strings.Contains(got, `"msg":"last","k":"v","g":{"a":1}`) {
			t.Fatalf("Close left the last line behind: %q", got[max(0, len(got)-200):])
		}
		log.Info("after close")
		if got := out.String(); !strings.Contains(got, "after close") {
			t.Fatalf("a line after Close was not written at once")
		}
	})
}

// TestLogWriterConcurrent: lines written at once from many goroutines come
// out whole, each once (run with -race).
func TestLogWriterConcurrent(t *testing.T) {
	t.Parallel()
	var out testlog.Buffer
	lw := newLogWriter(&out)
	log := slog.New(flushingHandler{slog.NewTextHandler(lw, nil), lw})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				log.Info("line", "g", g, "i", i)
			}
		})
	}
	wg.Wait()
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	seen := make(map[string]bool, len(lines))
	for _, l := range lines {
		if !strings.Contains(l, "msg=line g=") || seen[l[strings.Index(l, "g="):]] {
			t.Fatalf("a torn or repeated line: %q", l)
		}
		seen[l[strings.Index(l, "g="):]] = true
	}
	if len(seen) != 8*500 {
		t.Errorf("%d lines, want %d", len(seen), 8*500)
	}
}
