package main

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestGCPercentFor checks the property the percent is for: the next GC
// goal, by the runtime's formula, lands on the floor while the live heap is
// small, and GOGC is never below its default.
func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, h := range []heapSizes{
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
		goal := h.live + (h.live+h.scanned)*uint64(p)/100
		switch {
		case p < 100:
			t.Errorf("%+v: GOGC %d, below the default", h, p)
		case p > 100 && (goal > heapFloorBytes || goal < heapFloorBytes-(h.live+h.scanned)/100):
			t.Errorf("%+v: GOGC %d puts the goal at %d, want the floor, %d", h, p, goal, heapFloorBytes)
		case p == 100 && goal < heapFloorBytes:
			t.Errorf("%+v: GOGC 100 puts the goal at %d, below the floor", h, goal)
		}
	}
	// Before the first collection the live heap reads as nearly nothing:
	// the percent stays where a 1 MiB heap would put it.
	if p, want := gcPercentFor(heapSizes{live: 1024}), (heapFloorBytes-1024)*100/mib; p != want {
		t.Errorf("a near-empty heap gets GOGC %d, want %d", p, want)
	}
}

// TestRunHeapFloor runs the loop against a stand-in for the runtime: it
// follows the live heap each heapFloorEvery, sets the percent only when it
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
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); runHeapFloor(ctx, read, set) }()
		synctest.Wait()
		small := gcPercentFor(heap)
		check("at start", small, 1)

		time.Sleep(3 * heapFloorEvery)
		synctest.Wait()
		check("the heap unchanged", small, 1)

		mu.Lock()
		heap = heapSizes{live: heapFloorBytes}
		mu.Unlock()
		time.Sleep(heapFloorEvery)
		synctest.Wait()
		check("a live heap at the floor", 100, 2)

		mu.Lock()
		heap = heapSizes{live: 2 << 20}
		mu.Unlock()
		time.Sleep(heapFloorEvery)
		synctest.Wait()
		check("small again", small, 3)

		cancel()
		<-done
		check("stopped", 150, 4)
	})
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
