package main

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"
)

// timelineHeader is the first line of a --timeline file; authsvc-plot reads
// the columns by these names.
const timelineHeader = "elapsed_s,requests,errors,p50_ms,p99_ms,max_ms\n"

// timeline collects the requests completed in the current --progress
// interval and writes one CSV row per interval. Memory stays at two
// histograms however long the run: the progress loop swaps the current
// one for the spare at each cut.
//
// One lock for all clients: a request holds it for a bucket increment, so
// at tens of thousands of requests a second it is all but uncontended, and
// it puts every request in exactly one interval.
type timeline struct {
	mu  sync.Mutex
	cur *interval // guarded by mu

	spare *interval // the progress loop's alone
	w     *bufio.Writer
	err   error // the first write error; later rows are dropped
}

// interval is what the requests completed in one interval add up to.
type interval struct {
	hist   histogram
	errors int64
	max    time.Duration
}

// newTimeline writes the header to w and returns a timeline writing its rows
// there.
func newTimeline(w io.Writer) *timeline {
	tl := &timeline{cur: &interval{}, spare: &interval{}, w: bufio.NewWriter(w)}
	_, tl.err = tl.w.WriteString(timelineHeader)
	return tl
}

// add records one completed request in the current interval.
func (tl *timeline) add(d time.Duration, failed bool) {
	tl.mu.Lock()
	in := tl.cur
	in.hist.add(d)
	in.max = max(in.max, d)
	if failed {
		in.errors++
	}
	tl.mu.Unlock()
}

// cut ends the current interval at elapsed (since the start of the
// measurement) and writes its row. Only one goroutine may cut.
func (tl *timeline) cut(elapsed time.Duration) {
	tl.mu.Lock()
	in := tl.cur
	tl.cur = tl.spare
	tl.mu.Unlock()
	tl.spare = in
	if tl.err == nil {
		// A bucket's midpoint may lie above the largest value in it.
		p50, p99 := min(in.hist.quantile(0.50), in.max), min(in.hist.quantile(0.99), in.max)
		_, tl.err = fmt.Fprintf(tl.w, "%.3f,%d,%d,%.3f,%.3f,%.3f\n",
			elapsed.Seconds(), in.hist.total, in.errors, ms(p50), ms(p99), ms(in.max))
	}
	*in = interval{}
}

// pending reports whether the current interval holds any request.
func (tl *timeline) pending() bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.cur.hist.total > 0
}

// flush writes out what is buffered and returns the first write error.
func (tl *timeline) flush() error {
	if tl.err == nil {
		tl.err = tl.w.Flush()
	}
	return tl.err
}
