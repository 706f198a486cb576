package main

import (
	"context"
	"runtime"
	"runtime/metrics"
)

// The Go GC collects once the heap has grown by GOGC percent (100 by
// default) of what the last collection left, stacks and globals included,
// and never below a minimum of 4 MiB × GOGC/100. authsvc's live heap is a
// few MB, and a token request allocates about 3.5 KB, most of it
// net/http's: at 30,000 requests a second that was a collection every
// 20 ms, 2–3 µs of CPU per request. The heap floor raises GOGC while the
// live heap is small, so that the heap grows to about heapFloorBytes before
// a collection: at most that much more memory, for a collection or two a
// second. From half the floor up, GOGC is 100 again.
//
// GOGC in the environment turns the floor off: the operator's choice wins.
// GOMEMLIMIT bounds the heap with or without it.
const heapFloorBytes = 64 << 20

// maxFloorPercent is the GOGC whose minimum heap is the floor: above it the
// runtime's minimum alone would put the goal past the floor.
const maxFloorPercent = heapFloorBytes * 100 / (4 << 20)

// heapSizes is what the GC's goal grows from: the bytes that the last
// collection left live and the stacks and globals it scanned.
type heapSizes struct{ live, scanned uint64 }

// gcPercentFor is the GOGC that puts the next goal, live + (live +
// scanned) × GOGC / 100 or the minimum heap if larger, at about
// heapFloorBytes, and never below the default.
func gcPercentFor(h heapSizes) int {
	if h.live >= heapFloorBytes {
		return 100
	}
	p := (heapFloorBytes - h.live) * 100 / max(h.live+h.scanned, 1)
	return int(min(max(p, 100), maxFloorPercent))
}

// runHeapFloor sets the GC percent for the heap at start and after each
// collection it hears of on collected, with setPercent (debug.SetGCPercent),
// until ctx ends; then it puts back the percent it found. Setting it as
// each collection ends, rather than on a timer, keeps a jump of the live
// heap (argon2 hashes 19 MiB at a login) from running on a percent set for
// a smaller one.
func runHeapFloor(ctx context.Context, read func() heapSizes, setPercent func(int) int, collected <-chan struct{}) {
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
		case <-collected:
		}
	}
}

// collections sends on the channel it returns after each garbage
// collection, until ctx ends: a cleanup on an object nothing references
// runs once a collection has found it unreachable, and makes the next one.
// A send nobody has taken yet stands for the collections since.
func collections(ctx context.Context) <-chan struct{} {
	c := make(chan struct{}, 1)
	var arm func()
	arm = func() {
		if ctx.Err() != nil {
			return
		}
		// Not a tiny, pointer-free object: those share a block with
		// others and may outlive a collection.
		runtime.AddCleanup(new(gcSentinel), func(struct{}) {
			select {
			case c <- struct{}{}:
			default:
			}
			arm()
		}, struct{}{})
	}
	arm()
	return c
}

type gcSentinel struct {
	_ *int
	_ [16]byte
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
