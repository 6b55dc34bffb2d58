package seriestable

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/otelcol-fleet/otelcol-fleet/internal/memtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

// value is the size of series_guard's entry (16 bytes), so that bytes/series is that of its
// table.
type value struct{ a, b uint64 }

// benchHash spreads benchmark series over 64 bits, as identity hashes are.
func benchHash(i int) uint64 { return uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019 }

var benchSizes = []int{10_000, 100_000, 1_000_000}

func filled(n int) *Table[value] {
	t := New[value]()
	prev := NoSlot
	for i := range n {
		prev, _ = t.Find(prev, benchHash(i))
		t.Slot(prev).a = uint64(i)
	}
	return t
}

// BenchmarkAdd builds a table of n series from empty (every index doubling included) and
// reports the live memory it takes per series: after, minus before (memtest.Live: the heap after
// full GCs plus the arrays mapped outside it).
//
//	go test -run '^$' -bench BenchmarkAdd -benchmem ./internal/seriestable/
func BenchmarkAdd(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			var bytes, mapped float64
			for b.Loop() {
				b.StopTimer()
				before, mappedBefore := memtest.Live(), offheap.Mapped()
				b.StartTimer()
				t := filled(n)
				b.StopTimer()
				bytes = (float64(memtest.Live()) - float64(before)) / float64(n)
				mapped = float64(offheap.Mapped()-mappedBefore) / float64(n)
				b.StartTimer()
				runtime.KeepAlive(t)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/series")
			b.ReportMetric(bytes, "bytes/series")
			b.ReportMetric(mapped, "mapped-bytes/series")
		})
	}
}

// BenchmarkFind finds every series of a full table once per op: in the order they were added
// (ordered_rw's common case: the slot after the previous series'), in a random order (every
// series found through the index), and, as series_guard does, in a random order with the
// hashes of each run of 256 prefetched first.
func BenchmarkFind(b *testing.B) {
	for _, n := range benchSizes {
		t := filled(n)
		inOrder := make([]uint64, n)
		for i := range inOrder {
			inOrder[i] = benchHash(i)
		}
		shuffled := append([]uint64(nil), inOrder...)
		rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		find := func(b *testing.B, hashes []uint64) {
			for b.Loop() {
				prev := NoSlot
				for _, h := range hashes {
					var added bool
					if prev, added = t.Find(prev, h); added {
						b.Fatal("a series was added")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/series")
		}
		b.Run(fmt.Sprintf("series=%d/in_order", n), func(b *testing.B) { find(b, inOrder) })
		b.Run(fmt.Sprintf("series=%d/random", n), func(b *testing.B) { find(b, shuffled) })
		b.Run(fmt.Sprintf("series=%d/random_prefetched", n), func(b *testing.B) {
			const run = 256
			for b.Loop() {
				prev := NoSlot
				for from := 0; from < n; from += run {
					hashes := shuffled[from:min(from+run, n)]
					t.Prefetch(prev, hashes)
					for _, h := range hashes {
						var ok bool
						if prev, ok = t.Lookup(prev, h); !ok {
							b.Fatal("a series was not found")
						}
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/series")
		})
	}
}

// BenchmarkSweep sweeps a full table, freeing a quarter of its series, then adds them back
// (outside the timer), so that every op sweeps the same table.
func BenchmarkSweep(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			t := filled(n)
			for b.Loop() {
				if freed := t.Sweep(func(v *value) bool { return v.a%4 == 0 }); freed != (n+3)/4 {
					b.Fatalf("freed %d of %d", freed, n)
				}
				b.StopTimer()
				for i := 0; i < n; i += 4 {
					slot, _ := t.Find(NoSlot, benchHash(i))
					t.Slot(slot).a = uint64(i)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/series")
		})
	}
}
