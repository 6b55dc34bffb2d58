// Package memtest measures memory for the components' memory benchmarks, one way for all of them.
package memtest // import "github.com/otelcol-fleet/otelcol-fleet/internal/memtest"

import "runtime"

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
