package main

import (
	"context"
	"runtime/metrics"
	"time"
)

// The Go GC collects once the heap has grown by GOGC percent (100 by
// default) of what the last collection left, stacks and globals included.
// authsvc's live heap is a few MB, and a token request allocates about
// 3.5 KB, most of it net/http's: at 30,000 requests a second that was a
// collection every 20 ms, about 2 µs of CPU per request. The heap floor
// raises GOGC while the live heap is small, so that the heap grows to about
// heapFloorBytes before a collection: at most that much more memory, for a
// collection or two a second. From half the floor up, GOGC is 100 again.
//
// GOGC in the environment turns the floor off: the operator's choice wins.
// GOMEMLIMIT bounds the heap with or without it.
const (
	heapFloorBytes = 64 << 20
	// heapFloorEvery bounds how long a jump of the live heap runs on a
	// percent set for a smaller one: the heap grows by what the process
	// allocates in that time, a few MB, past the goal it should have had.
	heapFloorEvery = 100 * time.Millisecond
)

// heapSizes is what the GC's goal grows from: the bytes that the last
// collection left live and the stacks and globals it scanned.
type heapSizes struct{ live, scanned uint64 }

// gcPercentFor is the GOGC that puts the next goal, live + (live +
// scanned) × GOGC / 100, at heapFloorBytes, and never below the default.
func gcPercentFor(h heapSizes) int {
	base := max(h.live+h.scanned, 1<<20) // no percent in the tens of thousands at startup
	if h.live >= heapFloorBytes || (heapFloorBytes-h.live)*100/base <= 100 {
		return 100
	}
	return int((heapFloorBytes - h.live) * 100 / base)
}

// runHeapFloor sets the GC percent for the heap every heapFloorEvery, with
// setPercent (debug.SetGCPercent), until ctx ends; then it puts back the
// percent it found.
func runHeapFloor(ctx context.Context, read func() heapSizes, setPercent func(int) int) {
	t := time.NewTicker(heapFloorEvery)
	defer t.Stop()
	orig, last := 0, 0 // 0: not set yet (gcPercentFor never returns it)
	for {
		if p := gcPercentFor(read()); p != last {
			if prev := setPercent(p); last == 0 {
				orig = prev
			}
			last = p
		}
		select {
		case <-ctx.Done():
			setPercent(orig)
			return
		case <-t.C:
		}
	}
}

// runtimeHeap reads heapSizes from the runtime.
func runtimeHeap() func() heapSizes {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	return func() heapSizes {
		metrics.Read(samples)
		value := func(s metrics.Sample) uint64 {
			if s.Value.Kind() != metrics.KindUint64 {
				return heapFloorBytes // not in this Go: the floor steps aside
			}
			return s.Value.Uint64()
		}
		return heapSizes{live: value(samples[0]), scanned: value(samples[1]) + value(samples[2])}
	}
}
