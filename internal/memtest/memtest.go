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
// unmapped by cleanups in another goroutine: Live waits until they are done (the mapped bytes
// stop changing).
func Live() uint64 {
	heap := LiveHeap()
	mapped := offheap.Mapped()
	for range 100 {
		time.Sleep(2 * time.Millisecond)
		now := offheap.Mapped()
		if now == mapped {
			break
		}
		mapped = now
	}
	return heap + uint64(mapped)
}
