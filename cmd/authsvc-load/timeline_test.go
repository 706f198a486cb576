package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// timelineRow is a parsed row of a --timeline file.
type timelineRow struct {
	elapsed              float64 // seconds
	requests, errors     int64
	p50, p99, maxLatency float64 // ms
}

// parseTimeline parses a --timeline file, failing the test on any row
// that is not six numbers.
func parseTimeline(t testing.TB, b []byte) []timelineRow {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(timelineHeader)) {
		t.Fatalf("timeline does not start with %q:\n%s", timelineHeader, b)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("timeline is not CSV: %v\n%s", err, b)
	}
	var rows []timelineRow
	for i, rec := range recs[1:] {
		if len(rec) != 6 {
			t.Fatalf("timeline row %d has %d fields, want 6: %q", i+1, len(rec), rec)
		}
		var r timelineRow
		var errs [6]error
		r.elapsed, errs[0] = strconv.ParseFloat(rec[0], 64)
		r.requests, errs[1] = strconv.ParseInt(rec[1], 10, 64)
		r.errors, errs[2] = strconv.ParseInt(rec[2], 10, 64)
		r.p50, errs[3] = strconv.ParseFloat(rec[3], 64)
		r.p99, errs[4] = strconv.ParseFloat(rec[4], 64)
		r.maxLatency, errs[5] = strconv.ParseFloat(rec[5], 64)
		for _, err := range errs {
			if err != nil {
				t.Fatalf("timeline row %d %q: %v", i+1, rec, err)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// near reports whether got is within 0.4% (the histogram's precision) of
// want ms, give or take the 3 decimals printed.
func near(got, want float64) bool {
	d := got - want
	return d <= want*0.004+0.001 && d >= -want*0.004-0.001
}

// TestTimelineIntervals: each row holds exactly the requests completed in
// its interval, cut at the progress ticks, and the end cuts the last one
// short.
func TestTimelineIntervals(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		tl := newTimeline(&buf)
		start := time.Now()
		p := &phase{timeline: tl, deadline: start.Add(3500 * time.Millisecond)}
		stop := make(chan struct{})
		var progress sync.WaitGroup
		progress.Go(func() { p.progress(start, time.Second, io.Discard, stop) })

		time.Sleep(250 * time.Millisecond) // interval 1: 0-1 s
		tl.add(time.Millisecond, false)
		tl.add(2*time.Millisecond, true)
		tl.add(100*time.Millisecond, false)
		time.Sleep(749 * time.Millisecond)
		tl.add(3*time.Millisecond, false) // 999 ms: still the first
		time.Sleep(2 * time.Millisecond)
		tl.add(5*time.Millisecond, false) // 1001 ms: the second
		time.Sleep(2 * time.Second)       // 3001 ms: the third had none
		tl.add(7*time.Millisecond, true)
		time.Sleep(499 * time.Millisecond) // 3.5 s: the end
		close(stop)
		progress.Wait()
		if !tl.pending() {
			t.Fatal("pending() = false with a request in the last interval")
		}
		tl.cut(time.Since(start))
		if err := tl.flush(); err != nil {
			t.Fatal(err)
		}

		rows := parseTimeline(t, buf.Bytes())
		want := []timelineRow{
			{elapsed: 1, requests: 4, errors: 1, p50: 2, p99: 100, maxLatency: 100},
			{elapsed: 2, requests: 1, errors: 0, p50: 5, p99: 5, maxLatency: 5},
			{elapsed: 3},
			{elapsed: 3.5, requests: 1, errors: 1, p50: 7, p99: 7, maxLatency: 7},
		}
		if len(rows) != len(want) {
			t.Fatalf("timeline has %d rows, want %d:\n%s", len(rows), len(want), buf.String())
		}
		for i, w := range want {
			g := rows[i]
			if g.elapsed != w.elapsed || g.requests != w.requests || g.errors != w.errors || g.maxLatency != w.maxLatency ||
				!near(g.p50, w.p50) || !near(g.p99, w.p99) {
				t.Errorf("row %d = %+v, want %+v (percentiles within 0.4%%)", i+1, g, w)
			}
		}
	})
}

// TestTimelineWriteError: a failed write is reported by flush, and the
// rows after it are dropped rather than written half.
func TestTimelineWriteError(t *testing.T) {
	t.Parallel()
	tl := newTimeline(failingWriter{})
	for i := range 10_000 { // more than bufio's buffer holds
		tl.add(time.Millisecond, false)
		tl.cut(time.Duration(i) * time.Second)
	}
	if err := tl.flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("flush = %v, want the write error", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

// TestRunTimeline runs a measurement with --timeline and checks the file:
// its header, six numbers a row, elapsed time not falling, and rows that add up
// to the report.
func TestRunTimeline(t *testing.T) {
	t.Parallel()
	url, _ := newTestServer(t, testLimits{})
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "timeline.csv")
	args := []string{"authsvc-load", "--url", url, "--mode", "admin-token", "--users", "20", "--concurrency", "4",
		"--duration", "1s", "--warmup", "100ms", "--progress", "200ms", "--timeline", csvPath}
	rep, _, _ := runReport(t, args, envFunc(map[string]string{"AUTHSVC_ADMIN_TOKEN": testAdminKey}))
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	rows := parseTimeline(t, b)
	if len(rows) == 0 {
		t.Fatalf("timeline has no rows:\n%s", b)
	}
	var requests, errors int64
	var maxLatency, prev float64
	for i, r := range rows {
		requests += r.requests
		errors += r.errors
		maxLatency = max(maxLatency, r.maxLatency)
		// Equal only when a late tick came within a millisecond of the end.
		if r.elapsed < prev || r.elapsed <= 0 {
			t.Errorf("row %d: elapsed %v after %v, want positive and not falling", i+1, r.elapsed, prev)
		}
		prev = r.elapsed
		if !(0 <= r.p50 && r.p50 <= r.p99 && r.p99 <= r.maxLatency) || (r.requests > 0) != (r.maxLatency > 0) ||
			r.errors > r.requests {
			t.Errorf("row %d = %+v: want 0 <= p50 <= p99 <= max, max > 0 just when there were requests, errors <= requests", i+1, r)
		}
	}
	// Every measured request is in exactly one row, the warmup's in none.
	if requests != rep.Requests || errors != rep.Errors {
		t.Errorf("rows add up to %d requests, %d errors; the report says %d, %d", requests, errors, rep.Requests, rep.Errors)
	}
	if got, want := fmt.Sprintf("%.3f", maxLatency), fmt.Sprintf("%.3f", rep.LatencyMs.Max); got != want {
		t.Errorf("largest max_ms = %s, want the report's max %s", got, want)
	}
}

// TestRunTimelineUnwritable: a --timeline that cannot be created fails
// before any user is provisioned.
func TestRunTimelineUnwritable(t *testing.T) {
	t.Parallel()
	url, store := newTestServer(t, testLimits{})
	args := []string{"authsvc-load", "--url", url, "--mode", "admin-token", "--users", "20",
		"--timeline", filepath.Join(t.TempDir(), "no-such-dir", "t.csv")}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, envFunc(map[string]string{"AUTHSVC_ADMIN_TOKEN": testAdminKey}), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--timeline") {
		t.Fatalf("run = %v, want a --timeline error", err)
	}
	if n, err := store.Count(context.Background()); err != nil || n != 0 {
		t.Errorf("the server has %d users (%v), want none", n, err)
	}
}

// TestTimelineTickAtDeadline: the tick at the end of a timed measurement
// does not cut; the requests still in flight then go in the last row with
// those before them, not in a row of their own a few milliseconds long.
func TestTimelineTickAtDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		tl := newTimeline(&buf)
		start := time.Now()
		p := &phase{timeline: tl, deadline: start.Add(2 * time.Second)}
		stop := make(chan struct{})
		var progress sync.WaitGroup
		progress.Go(func() { p.progress(start, time.Second, io.Discard, stop) })
		time.Sleep(1500 * time.Millisecond)
		tl.add(time.Millisecond, false)
		time.Sleep(501 * time.Millisecond) // past the deadline and its tick
		tl.add(time.Millisecond, false)
		time.Sleep(time.Millisecond)
		close(stop)
		progress.Wait()
		tl.cut(time.Since(start))
		if err := tl.flush(); err != nil {
			t.Fatal(err)
		}
		rows := parseTimeline(t, buf.Bytes())
		if len(rows) != 2 || rows[0].elapsed != 1 || rows[0].requests != 0 || rows[1].elapsed != 2.002 || rows[1].requests != 2 {
			t.Errorf("timeline = %+v, want rows at 1 s (no requests) and 2.002 s (2 requests)", rows)
		}
	})
}
