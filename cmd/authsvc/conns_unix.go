//go:build unix

package main

import "syscall"

// maxOpenFiles is the soft limit on open files (which the Go runtime raises
// to the hard limit at startup), or 1024 if it cannot be read.
func maxOpenFiles() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 1024
	}
	return int(min(r.Cur, 1<<30))
}
