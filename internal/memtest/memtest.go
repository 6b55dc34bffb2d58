// Package memtest measures memory for the components' memory benchmarks, one way for all of them.
package memtest // import "github.com/otelcol-fleet/otelcol-fleet/internal/memtest"

import (
	"runtime"
	"testing"
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
// heap alone would count as an improvement. A benchmark that cannot tell the mapped bytes apart
// from a table still being unmapped reads them as they are then.
func Live() uint64 {
	heap := LiveHeap()
	mapped, _ := Mapped()
	return heap + uint64(mapped)
}

// Mapped is offheap.Mapped once the cleanups of what the collections found unreachable have run
// (they unmap it, in another goroutine): it waits for a cleanup queued after theirs, then until
// the mapped bytes stop changing, three readings alike 10 ms apart, each after a collection, so
// that what an earlier benchmark or test dropped is not taken off during the next one's
// measurement. settled is false if they never stopped changing (3 s).
func Mapped() (mapped int64, settled bool) {
	ran := make(chan struct{})
	runtime.AddCleanup(new(sentinel), func(ran chan struct{}) { close(ran) }, ran)
	runtime.GC()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
	}
	mapped, alike := offheap.Mapped(), 0
	for range 300 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if now := offheap.Mapped(); now != mapped {
			mapped, alike = now, 0
		} else if alike++; alike == 2 {
			return mapped, true
		}
	}
	return mapped, false
}

// SettledMapped is Mapped for a test of what is mapped: it skips the test where nothing is
// mapped (off Linux) and fails it if the mapped bytes never settle.
func SettledMapped(tb testing.TB) int64 {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skip("arrays are mapped on Linux only")
	}
	mapped, ok := Mapped()
	if !ok {
		tb.Fatal("offheap.Mapped did not settle")
	}
	return mapped
}

// sentinel is large enough not to share its allocation with other tiny objects, whose cleanups
// may then never run.
type sentinel [64]byte
