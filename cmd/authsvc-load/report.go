package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is the result of one run: the summary on stdout shows it, and
// --json writes it as is. It always satisfies Requests == Successes + Errors
// and P50 <= P90 <= P99 <= Max.
type Report struct {
	Mode            string           `json:"mode"`
	URL             string           `json:"url"`
	Concurrency     int              `json:"concurrency"`
	Users           int              `json:"users"`                // provisioned; 0 in healthz mode
	UserPrefix      string           `json:"userPrefix,omitempty"` // admin-token mode: the users are <userPrefix>-0 .. -<users-1>
	Rate            float64          `json:"rate,omitempty"`       // open loop: requests started per second; 0 for a closed loop
	DurationSeconds float64          `json:"durationSeconds"`      // measured, from the first request to the last answer
	Requests        int64            `json:"requests"`
	Successes       int64            `json:"successes"` // answered 200
	Errors          int64            `json:"errors"`
	ErrorsByKind    map[string]int64 `json:"errorsByKind"` // "http_<status>", or a transport error kind such as "timeout"
	Throughput      float64          `json:"throughput"`   // requests per second
	// Import mode: users per request, and users imported per second.
	Batch          int     `json:"batch,omitempty"`
	UsersPerSecond float64 `json:"usersPerSecond,omitempty"`
	LatencyMs      Latency `json:"latencyMs"`
	// LatencyExact is false when the run outgrew the sample budget and the
	// percentiles come from a histogram (within 0.4%).
	LatencyExact bool      `json:"latencyExact"`
	StartedAt    time.Time `json:"startedAt"` // start of the measured phase
	GoVersion    string    `json:"goVersion"`
	NumCPU       int       `json:"numCPU"`
	// With --server-pid: the servers' CPU time (user and system) during
	// the measured phase, in all and per request, to 10 ms in all.
	ServerPIDs                []int   `json:"serverPIDs,omitempty"`
	ServerCPUSeconds          float64 `json:"serverCPUSeconds,omitempty"`
	ServerCPUMicrosPerRequest float64 `json:"serverCPUMicrosPerRequest,omitempty"`
}

// fillCPU records the servers' CPU time over the measured phase.
func (r *Report) fillCPU(d time.Duration) {
	r.ServerCPUSeconds = d.Seconds()
	if r.Requests > 0 {
		r.ServerCPUMicrosPerRequest = float64(d.Microseconds()) / float64(r.Requests)
	}
}

// Latency is a latency distribution in milliseconds, over every measured
// request, failed ones included.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fill copies the measurements into the report.
func (r *Report) fill(s summary, elapsed time.Duration) {
	r.DurationSeconds = elapsed.Seconds()
	r.Requests, r.Errors, r.Successes = s.requests, s.errors, s.requests-s.errors
	r.ErrorsByKind = s.errorsByKind
	if elapsed > 0 {
		r.Throughput = float64(s.requests) / elapsed.Seconds()
	}
	r.LatencyMs = Latency{Mean: ms(s.mean), P50: ms(s.p50), P90: ms(s.p90), P99: ms(s.p99), Max: ms(s.max)}
	r.LatencyExact = s.exact
}

// print writes the readable summary.
func (r *Report) print(w io.Writer, route string, warmup time.Duration) {
	fmt.Fprintf(w, "mode          %s (%s)\n", r.Mode, route)
	fmt.Fprintf(w, "url           %s\n", r.URL)
	if r.UserPrefix != "" {
		fmt.Fprintf(w, "concurrency   %d clients, as an admin for %d random users %s-*\n", r.Concurrency, r.Users, r.UserPrefix)
	} else if r.Users > 0 {
		fmt.Fprintf(w, "concurrency   %d clients, acting as %d users\n", r.Concurrency, r.Users)
	} else {
		fmt.Fprintf(w, "concurrency   %d clients\n", r.Concurrency)
	}
	if r.Rate > 0 {
		fmt.Fprintf(w, "open loop     %.0f req/s scheduled; latency from each request's scheduled start\n", r.Rate)
	}
	fmt.Fprintf(w, "duration      %.2f s measured, after a %v warmup\n", r.DurationSeconds, warmup)
	fmt.Fprintf(w, "requests      %d\n", r.Requests)
	fmt.Fprintf(w, "successes     %d\n", r.Successes)
	fmt.Fprintf(w, "errors        %d%s\n", r.Errors, kinds(r.ErrorsByKind))
	if r.ErrorsByKind["http_429"] > 0 {
		fmt.Fprintln(w, "              429s are the server's rate limits; for throughput, serve with --rate-token off")
	}
	fmt.Fprintf(w, "throughput    %.1f req/s\n", r.Throughput)
	if r.Batch > 0 {
		fmt.Fprintf(w, "imported      %.0f users/s (%d per request; successful imports only)\n", r.UsersPerSecond, r.Batch)
	}
	how := "exact"
	if !r.LatencyExact {
		how = "percentiles from a histogram, within 0.4%"
	}
	l := r.LatencyMs
	fmt.Fprintf(w, "latency (ms)  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f (%s)\n", l.P50, l.P90, l.P99, l.Max, l.Mean, how)
	if len(r.ServerPIDs) > 0 {
		fmt.Fprintf(w, "server CPU    %.1f µs per request (%.2f s in all, pid %s)\n", r.ServerCPUMicrosPerRequest, r.ServerCPUSeconds, joinInts(r.ServerPIDs))
	}
	fmt.Fprintf(w, "machine       %d CPUs, %s; started %s\n", r.NumCPU, r.GoVersion, r.StartedAt.Format(time.RFC3339))
}

// kinds lists error counts by kind, most frequent first: " (http_401 3, timeout 1)".
func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// writeJSON writes the report to path.
func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --json: %w", err)
	}
	return nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
