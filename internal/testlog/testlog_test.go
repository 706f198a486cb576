package testlog_test

import (
	"log/slog"
	"strings"
	"sync"
	"testing"

	"authsvc/internal/testlog"
)

// TestBufferConcurrent writes from many goroutines while reading; run with
// -race, it shows the buffer needs no outside locking, and no line is lost
// or torn.
func TestBufferConcurrent(t *testing.T) {
	t.Parallel()
	var b testlog.Buffer
	log := slog.New(slog.NewTextHandler(&b, nil))
	const writers, lines = 8, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range lines {
				log.Info("hello", "k", "v")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("Buffer holds %d lines, want %d", len(got), writers*lines)
	}
	for i, l := range got {
		if !strings.Contains(l, "msg=hello k=v") {
			t.Fatalf("line %d = %q, want a whole record", i, l)
		}
	}
}
