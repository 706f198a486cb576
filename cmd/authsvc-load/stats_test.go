package main

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarizeExact(t *testing.T) {
	t.Parallel()
	// 1..1000 ms spread over three clients, some of them failing.
	recs := []*recorder{newRecorder(1000), newRecorder(1000), newRecorder(1000)}
	for i := 1; i <= 1000; i++ {
		kind := ""
		switch {
		case i%100 == 0:
			kind = "http_500"
		case i%250 == 1:
			kind = kindTimeout
		}
		recs[i%3].add(time.Duration(i)*time.Millisecond, kind)
	}
	got := summarize(recs)
	want := summary{
		requests: 1000, errors: 14,
		errorsByKind: map[string]int64{"http_500": 10, kindTimeout: 4},
		mean:         500500 * time.Microsecond,
		p50:          500 * time.Millisecond, p90: 900 * time.Millisecond, p99: 990 * time.Millisecond,
		max: 1000 * time.Millisecond, exact: true,
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(summary{})); diff != "" {
		t.Errorf("summarize mismatch (-want +got):\n%s", diff)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	t.Parallel()
	got := summarize([]*recorder{newRecorder(10)})
	want := summary{errorsByKind: map[string]int64{}, exact: true}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(summary{})); diff != "" {
		t.Errorf("summarize of nothing (-want +got):\n%s", diff)
	}
	var r Report
	r.fill(got, 0)
	if r.Requests != 0 || r.Throughput != 0 || r.ErrorsByKind == nil {
		t.Errorf("report of nothing = %+v", r)
	}
}

// TestSummarizeHistogram: past its sample budget a recorder moves to the
// histogram; percentiles stay within 0.4% of the exact ones, in order, and
// count, mean and max stay exact.
func TestSummarizeHistogram(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	small, big := newRecorder(1_000_000), newRecorder(100) // big outgrows its budget
	for i := range 50_000 {
		// Log-uniform from 50µs to 500ms, the span of real latencies.
		d := time.Duration(50e3 * math.Pow(10, 4*rng.Float64()))
		all = append(all, d)
		if i%2 == 0 {
			small.add(d, "")
		} else {
			big.add(d, "")
		}
	}
	if big.hist == nil || big.samples != nil || small.hist != nil {
		t.Fatalf("after 25000 samples: over-budget recorder hist %v samples %d; within budget hist %v",
			big.hist != nil, len(big.samples), small.hist != nil)
	}
	got := summarize([]*recorder{small, big})

	exact := newRecorder(len(all))
	for _, d := range all {
		exact.add(d, "")
	}
	want := summarize([]*recorder{exact})
	if got.exact || !want.exact {
		t.Fatalf("exact = %v, %v; want false for the histogram, true for all samples", got.exact, want.exact)
	}
	if got.requests != want.requests || got.mean != want.mean || got.max != want.max {
		t.Errorf("requests, mean, max = %d, %v, %v; want %d, %v, %v exactly",
			got.requests, got.mean, got.max, want.requests, want.mean, want.max)
	}
	for _, q := range []struct {
		name      string
		got, want time.Duration
	}{{"p50", got.p50, want.p50}, {"p90", got.p90, want.p90}, {"p99", got.p99, want.p99}} {
		if rel := float64(q.got-q.want) / float64(q.want); rel > 0.004 || rel < -0.004 {
			t.Errorf("%s = %v, exact %v: off by %.2f%%", q.name, q.got, q.want, rel*100)
		}
	}
	if !(got.p50 <= got.p90 && got.p90 <= got.p99 && got.p99 <= got.max) {
		t.Errorf("p50 %v, p90 %v, p99 %v, max %v out of order", got.p50, got.p90, got.p99, got.max)
	}
}

// TestBucket: every value falls in the bucket bucketRange describes, buckets
// grow with values, and none is wider than 1/128 of what it holds.
func TestBucket(t *testing.T) {
	t.Parallel()
	prev := -1
	check := func(v int64) {
		i := bucket(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucket(%d) = %d after %d (of %d buckets)", v, i, prev, histBuckets)
		}
		prev = i
		low, width := bucketRange(i)
		if v < low || v >= low+width {
			t.Fatalf("bucket(%d) = %d, which holds [%d, %d)", v, i, low, low+width)
		}
		if width > 1 && width*subBuckets > low {
			t.Fatalf("bucket %d is [%d, +%d), wider than 1/%d of its values", i, low, width, subBuckets)
		}
	}
	for v := int64(0); v < 5000; v++ {
		check(v)
	}
	for v := int64(5000); v < maxHistValue; v += v/97 + 1 {
		check(v)
	}
	check(maxHistValue)
	if got := bucket(maxHistValue + 12345); got != histBuckets-1 {
		t.Errorf("bucket(above max) = %d, want the last, %d", got, histBuckets-1)
	}
	if got := bucket(-5); got != 0 {
		t.Errorf("bucket(-5) = %d, want 0", got)
	}
}

func TestRank(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q    float64
		n    int
		want int
	}{
		{0.5, 1, 0}, {0.99, 1, 0}, {0.5, 2, 0}, {0.5, 3, 1}, {0.9, 10, 8}, {0.99, 100, 98}, {0.99, 101, 99}, {1, 7, 6},
	}
	for _, tt := range tests {
		if got := rank(tt.q, tt.n); got != tt.want {
			t.Errorf("rank(%v, %d) = %d, want %d", tt.q, tt.n, got, tt.want)
		}
	}
}
