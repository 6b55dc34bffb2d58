// Package memtest measures memory for the components' memory benchmarks, one way for all of them.
package memtest // import "github.com/otelcol-fleet/otelcol-fleet/internal/memtest"

import (
	"runtime"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

// LiveHeap is the heap left live after two garbage collections: the second one frees what the
// first only found unreachable through finalizers and swept late, so that two readings differ by
// what the code between them keeps.
func LiveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Live is the memory left live: LiveHeap plus the arrays kept outside the Go heap
// (offheap.Mapped: the series tables' pointer-free chunks and indexes), which a reading of the
// heap alone would count as an improvement. What the collections found unreachable of those is
// unmapped by cleanups, run in another goroutine: Live waits for a cleanup queued after theirs,
// then until the mapped bytes stop changing (three readings alike), so that what an earlier benchmark dropped is not
// taken off during the next one's measurement.
func Live() uint64 {
	heap := LiveHeap()
	ran := make(chan struct{})
	runtime.AddCleanup(new(sentinel), func(ran chan struct{}) { close(ran) }, ran)
	runtime.GC()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
	}
	// Three readings alike, 10 ms apart, each after a collection: on a loaded machine the
	// cleanups of a large table run for a while.
	mapped, alike := offheap.Mapped(), 0
	for range 300 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if now := offheap.Mapped(); now != mapped {
			mapped, alike = now, 0
		} else if alike++; alike == 2 {
			break
		}
	}
	return heap + uint64(mapped)
}

// sentinel is large enough not to share its allocation with other tiny objects, whose cleanups
// may then never run.
type sentinel [64]byte
