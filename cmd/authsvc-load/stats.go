package main

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// maxExactSamples is how many latencies a run keeps exactly (8 bytes each,
// so 64 MiB), shared out evenly among the clients. A client past its share
// moves to a histogram. At the 10-20k requests per second a 2-core machine
// manages, a 10-second run keeps every sample; a 10-minute one may not.
const maxExactSamples = 8 << 20

// recorder collects one client's results. Only that client's worker writes
// to it, so it needs no locking; recorders are merged when the load is over.
//
// Latencies are kept exactly up to limit samples, then in a histogram, which
// keeps memory bounded however long the run. Count, sum (hence the mean) and
// max are always exact.
type recorder struct {
	limit   int
	samples []time.Duration
	hist    *histogram // non-nil once past limit; samples are then empty
	count   int64
	sum     time.Duration
	max     time.Duration
	errs    map[string]int64 // by kind
}

func newRecorder(limit int) *recorder {
	return &recorder{limit: limit, samples: make([]time.Duration, 0, min(limit, 1<<12)), errs: map[string]int64{}}
}

// add records one request: its latency, and its error kind ("" for success).
// Failed requests count in the latencies too: they are what the caller
// waited for.
func (r *recorder) add(d time.Duration, kind string) {
	r.count++
	r.sum += d
	r.max = max(r.max, d)
	if kind != "" {
		r.errs[kind]++
	}
	if r.hist == nil && len(r.samples) < r.limit {
		r.samples = append(r.samples, d)
		return
	}
	if r.hist == nil {
		r.hist = &histogram{}
		for _, s := range r.samples {
			r.hist.add(s)
		}
		r.samples = nil
	}
	r.hist.add(d)
}

// summary is what the recorders of a run add up to.
type summary struct {
	requests, errors         int64
	errorsByKind             map[string]int64
	mean, p50, p90, p99, max time.Duration
	exact                    bool // percentiles from every sample, not from the histogram
}

// summarize merges the recorders. Percentiles are nearest-rank: pN is the
// smallest latency at least N% of requests did not exceed.
func summarize(recs []*recorder) summary {
	s := summary{errorsByKind: map[string]int64{}, exact: true}
	var sum time.Duration
	for _, r := range recs {
		s.requests += r.count
		sum += r.sum
		s.max = max(s.max, r.max)
		for k, n := range r.errs {
			s.errorsByKind[k] += n
			s.errors += n
		}
		if r.hist != nil {
			s.exact = false
		}
	}
	if s.requests == 0 {
		return s
	}
	s.mean = sum / time.Duration(s.requests)
	if s.exact {
		all := make([]time.Duration, 0, s.requests)
		for _, r := range recs {
			all = append(all, r.samples...)
		}
		slices.Sort(all)
		s.p50, s.p90, s.p99 = all[rank(0.50, len(all))], all[rank(0.90, len(all))], all[rank(0.99, len(all))]
		return s
	}
	var h histogram
	for _, r := range recs {
		if r.hist != nil {
			h.merge(r.hist)
		}
		for _, d := range r.samples {
			h.add(d)
		}
	}
	// A bucket's midpoint may lie above the largest value in it; no
	// percentile may exceed the true max.
	s.p50, s.p90, s.p99 = min(h.quantile(0.50), s.max), min(h.quantile(0.90), s.max), min(h.quantile(0.99), s.max)
	return s
}

// rank is the index, in n sorted values, of the nearest-rank q-quantile.
func rank(q float64, n int) int {
	i := int(math.Ceil(q*float64(n))) - 1
	return min(max(i, 0), n-1)
}

// The histogram is log-linear: values below 2^subBits nanoseconds have a
// bucket each; above, every power of two is split into 2^subBits buckets,
// so a bucket is at most 1/128 of its values wide and its midpoint within
// 0.4% of any of them. Values are clamped to maxHistValue (18 minutes, far
// beyond requestTimeout).
const (
	subBits      = 7
	subBuckets   = 1 << subBits
	maxHistValue = 1<<40 - 1
	histBuckets  = (40-subBits)*subBuckets + subBuckets
)

// histogram counts durations in log-linear buckets (see subBits).
type histogram struct {
	counts [histBuckets]int64
	total  int64
}

// bucket returns the index of the bucket holding v nanoseconds.
func bucket(v int64) int {
	v = min(max(v, 0), maxHistValue)
	if v < subBuckets {
		return int(v)
	}
	// v has e+subBits+1 significant bits; keep the top subBits+1.
	e := bits.Len64(uint64(v)) - subBits - 1
	return e*subBuckets + int(v>>e)
}

// bucketRange returns the smallest value of bucket i and the bucket's width.
func bucketRange(i int) (low, width int64) {
	if i < 2*subBuckets {
		return int64(i), 1
	}
	e := i/subBuckets - 1
	m := int64(i - e*subBuckets)
	return m << e, 1 << e
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucket(int64(d))]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
}

// quantile returns the midpoint of the bucket holding the nearest-rank
// q-quantile.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	want := int64(rank(q, int(h.total))) + 1
	var seen int64
	for i, n := range h.counts {
		seen += n
		if seen >= want {
			low, width := bucketRange(i)
			return time.Duration(low + width/2)
		}
	}
	return maxHistValue
}
