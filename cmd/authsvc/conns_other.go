//go:build !unix

package main

// maxOpenFiles is a guess where there is no RLIMIT_NOFILE to read.
func maxOpenFiles() int { return 1 << 14 }
