package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Log output is buffered: at info every API request is a line, and a write
// to stderr each was a syscall costing about 1 µs of the token route's
// 28 µs of CPU. Lines wait at most logFlushEvery, or until logBufferSize
// bytes are waiting; a record at WARN or above is written at once, with
// everything before it, and so are the startup lines once serve listens.
// A process that dies without shutting down (a panic outside a request,
// which the runtime writes to stderr directly, or SIGKILL) loses the info
// lines of its last 100 ms.
const (
	logFlushEvery = 100 * time.Millisecond
	logBufferSize = 64 << 10
)

// logWriter buffers what is written to it for w. It is safe for concurrent
// use; Close writes what is left and stops the timer.
type logWriter struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	timer  *time.Timer // armed while buf holds anything
	armed  bool
	closed bool
}

func newLogWriter(w io.Writer) *logWriter {
	lw := &logWriter{w: w, buf: make([]byte, 0, logBufferSize)}
	lw.timer = time.AfterFunc(time.Hour, func() { _ = lw.Flush() })
	lw.timer.Stop()
	return lw
}

// Write buffers p, a whole log record: slog writes each in one call. It
// never fails, and errors of w while writing the buffer out here or on the
// timer are dropped: a log line that stderr refused has nowhere better to
// go. Flush and Close return theirs.
func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.closed || len(p) > logBufferSize {
		lw.flushLocked()
		_, _ = lw.w.Write(p)
		return len(p), nil
	}
	if len(lw.buf)+len(p) > logBufferSize {
		lw.flushLocked()
	}
	lw.buf = append(lw.buf, p...)
	if !lw.armed {
		lw.armed = true
		lw.timer.Reset(logFlushEvery)
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (lw *logWriter) Flush() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.flushLocked()
}

func (lw *logWriter) flushLocked() error {
	lw.armed = false
	if len(lw.buf) == 0 {
		return nil
	}
	_, err := lw.w.Write(lw.buf)
	lw.buf = lw.buf[:0]
	return err
}

// Close flushes and makes later writes go straight to w.
func (lw *logWriter) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.timer.Stop()
	lw.closed = true
	return lw.flushLocked()
}

// flushingHandler writes a record at WARN or above out at once, with the
// lines buffered before it.
type flushingHandler struct {
	slog.Handler
	lw *logWriter
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		_ = h.lw.Flush()
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.lw}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.lw}
}
