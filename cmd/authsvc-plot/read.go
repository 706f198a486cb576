package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Bounds on one input file: a 10-minute run at the smallest --progress
// (100 ms) is 6,000 rows, so these only stop a wrong file.
const (
	maxRows  = 100_000
	maxBytes = 16 << 20
	// maxValue bounds a value: 31 years in seconds, 11 days in ms. Beyond
	// it is a wrong file, and tick arithmetic would near float64's range.
	maxValue = 1e9
)

// point is one row of a timeline: seconds since the start, latencies in ms.
type point struct{ elapsed, p50, p99 float64 }

// readTimeline reads an authsvc-load --timeline CSV. Columns are found by
// name in the header, so columns added later are ignored; every value used
// must be a number from 0 to maxValue. Errors name the file and line.
func readTimeline(r io.Reader, name string) ([]point, error) {
	lr := &io.LimitedReader{R: r, N: maxBytes + 1}
	cr := csv.NewReader(lr)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty, want a header line elapsed_s,...,p50_ms,p99_ms,...", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cols := map[string]int{"elapsed_s": -1, "p50_ms": -1, "p99_ms": -1}
	for i, h := range header {
		if j, ok := cols[h]; ok {
			if j >= 0 {
				return nil, fmt.Errorf("%s: column %s appears twice", name, h)
			}
			cols[h] = i
		}
	}
	for _, c := range []string{"elapsed_s", "p50_ms", "p99_ms"} {
		if cols[c] < 0 {
			return nil, fmt.Errorf("%s: no %s column in the header (an authsvc-load --timeline file has elapsed_s,requests,errors,p50_ms,p99_ms,max_ms)", name, c)
		}
	}
	var pts []point
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(pts) == maxRows {
			return nil, fmt.Errorf("%s: more than %d rows", name, maxRows)
		}
		line, _ := cr.FieldPos(0)
		var p point
		for _, f := range []struct {
			col string
			v   *float64
		}{{"elapsed_s", &p.elapsed}, {"p50_ms", &p.p50}, {"p99_ms", &p.p99}} {
			s := rec[cols[f.col]]
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || !(v >= 0 && v <= maxValue) { // NaN fails both
				return nil, fmt.Errorf("%s: line %d: %s %q is not a number from 0 to %g", name, line, f.col, s, float64(maxValue))
			}
			*f.v = v
		}
		pts = append(pts, p)
	}
	if lr.N == 0 {
		return nil, fmt.Errorf("%s: larger than %d MiB", name, maxBytes>>20)
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("%s: no rows after the header", name)
	}
	return pts, nil
}
