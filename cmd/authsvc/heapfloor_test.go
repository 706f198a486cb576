package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// goalOf is the next GC goal by the Go runtime's pacer (mgcpacer.go): what
// the percent adds to the live heap, but never below 4 MiB × GOGC/100.
func goalOf(h heapSizes, percent int) uint64 {
	p := uint64(percent)
	return max(h.live+(h.live+h.scanned)*p/100, (4<<20)*p/100)
}

// TestGCPercentFor checks the property the percent is for: the next goal
// lands on the floor while the live heap is small, and GOGC is never below
// its default.
func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, h := range []heapSizes{
		{}, // before the first collection
		{live: 1024},
		{live: 2 * mib, scanned: mib / 2},
		{live: 3 * mib},
		{live: 10 * mib, scanned: 2 * mib},
		{live: 31 * mib, scanned: mib / 4},
		{live: 32 * mib},
		{live: 40 * mib, scanned: mib},
		{live: 64 * mib},
		{live: 900 * mib, scanned: 10 * mib},
	} {
		p := gcPercentFor(h)
		goal := goalOf(h, p)
		switch {
		case p < 100:
			t.Errorf("%+v: GOGC %d, below the default", h, p)
		case p > 100 && (goal > heapFloorBytes || goal < heapFloorBytes-(h.live+h.scanned)/100-1):
			t.Errorf("%+v: GOGC %d puts the goal at %d, want the floor, %d", h, p, goal, heapFloorBytes)
		case p == 100 && goal < heapFloorBytes && h.live+h.scanned > 4*mib:
			t.Errorf("%+v: GOGC 100 puts the goal at %d, below the floor", h, goal)
		}
	}
}

// TestHeapFloorGoal sets the percent on this test binary's own runtime and
// reads the goal the runtime then has: the model above must be the
// runtime's. It is not parallel: the percent is the process's.
func TestHeapFloorGoal(t *testing.T) {
	runtime.GC()
	h := runtimeHeap()()
	prev := debug.SetGCPercent(gcPercentFor(h))
	defer debug.SetGCPercent(prev)
	sample := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(sample)
	goal := sample[0].Value.Uint64()
	if h.live < heapFloorBytes/2 {
		if goal < heapFloorBytes*95/100 || goal > heapFloorBytes*105/100 {
			t.Errorf("with %+v, GOGC %d: goal %d, want the floor, %d", h, gcPercentFor(h), goal, heapFloorBytes)
		}
	} else if goal < heapFloorBytes {
		t.Errorf("with %+v: goal %d, below the floor", h, goal)
	}
}

// TestRunHeapFloor runs the loop against a stand-in for the runtime: it
// follows the live heap at each collection, sets the percent only when it
// changes, and puts back the one it found when it stops.
func TestRunHeapFloor(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		heap := heapSizes{live: 2 << 20}
		percent, sets := 150, 0 // an operator's debug.SetGCPercent before
		read := func() heapSizes { mu.Lock(); defer mu.Unlock(); return heap }
		set := func(p int) int {
			mu.Lock()
			defer mu.Unlock()
			prev := percent
			percent, sets = p, sets+1
			return prev
		}
		check := func(what string, want, wantSets int) {
			t.Helper()
			mu.Lock()
			defer mu.Unlock()
			if percent != want || sets != wantSets {
				t.Errorf("%s: GOGC %d after %d sets, want %d after %d", what, percent, sets, want, wantSets)
			}
		}
		collect := func(h heapSizes) {
			mu.Lock()
			heap = h
			mu.Unlock()
		}
		ctx, cancel := context.WithCancel(context.Background())
		collected := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); runHeapFloor(ctx, read, set, collected) }()
		synctest.Wait()
		small := gcPercentFor(heap)
		check("at start", small, 1)

		collected <- struct{}{}
		synctest.Wait()
		check("a collection, the heap unchanged", small, 1)

		collect(heapSizes{live: heapFloorBytes})
		check("the live heap grown, before its collection is heard of", small, 1)
		collected <- struct{}{}
		synctest.Wait()
		check("a live heap at the floor", 100, 2)

		collect(heapSizes{live: 2 << 20})
		collected <- struct{}{}
		synctest.Wait()
		check("small again", small, 3)

		time.Sleep(time.Hour)
		synctest.Wait()
		check("an hour without collections", small, 3)

		cancel()
		<-done
		check("stopped", 150, 4)
	})
}

// TestCollections: the channel hears of each collection of the real
// runtime, again after the first (the cleanup makes the next one).
func TestCollections(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := collections(ctx)
	for i := range 2 {
		runtime.GC()
		select {
		case <-c:
		case <-time.After(time.Minute): // a bound on a hang, not a timing
			t.Fatalf("collection %d not heard of", i+1)
		}
	}
}

// TestRuntimeHeap reads the real runtime's sizes: every metric is there
// (else the floor would step aside for good), with what a collection
// left of this test binary's heap.
func TestRuntimeHeap(t *testing.T) {
	t.Parallel()
	runtime.GC()
	h := runtimeHeap()()
	if h.live == 0 || h.live == heapFloorBytes || h.scanned == 0 || h.scanned >= heapFloorBytes {
		t.Errorf("runtimeHeap() = %+v, want the live heap and the stacks and globals scanned", h)
	}
}
