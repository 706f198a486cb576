package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture Go supports (the kernel fixes it for the
// ABI whatever its own HZ).
const clockTick = 10 * time.Millisecond

// maxPIDs bounds --server-pid, as maxURLs bounds --url.
const maxPIDs = maxURLs

// parsePIDs parses --server-pid: "" or a comma-separated list of process
// IDs.
func parsePIDs(raw string) ([]int, error) {
	if raw == "" {
		return nil, nil
	}
	parts := strings.Split(raw, ",")
	if len(parts) > maxPIDs {
		return nil, fmt.Errorf("--server-pid: %d processes, at most %d", len(parts), maxPIDs)
	}
	pids := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--server-pid: %q is not a process ID", p)
		}
		pids[i] = n
	}
	return pids, nil
}

// processCPU is the CPU time, user and system, the processes have used so
// far, from /proc (Linux only).
func processCPU(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, fmt.Errorf("--server-pid %d: read its CPU time (Linux only): %w", pid, err)
		}
		d, err := parseProcStat(b)
		if err != nil {
			return 0, fmt.Errorf("--server-pid %d: %w", pid, err)
		}
		total += d
	}
	return total, nil
}

var errProcStat = errors.New("/proc/<pid>/stat: unexpected format")

// parseProcStat returns utime+stime from the contents of /proc/<pid>/stat.
// The command name, field 2, is in parentheses and may hold spaces and
// parentheses itself, so the fields are counted from the last ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errProcStat
	}
	// After the name: field 3 (state) is [0], utime (14) is [11], stime (15) is [12].
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errProcStat
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, errProcStat
		}
		if ticks+n < ticks {
			return 0, errProcStat
		}
		ticks += n
	}
	if ticks > int64(1<<63-1)/int64(clockTick) {
		return 0, errProcStat
	}
	return time.Duration(ticks) * clockTick, nil
}
