// Package testlog gives tests a log destination that the code under test may
// write from any goroutine while the test reads it.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer whose contents can be read with String at any
// time. Its zero value is ready to use; it must not be copied after first use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
