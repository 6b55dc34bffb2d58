package guard

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchHash spreads benchmark series over 64 bits, as the processor's hashes are.
func benchHash(i int) uint64 { return uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019 }

// admitted returns a Guard with n series admitted, in the order of their numbers.
func admitted(b *testing.B, n int) *Guard {
	g := New(Limits{MaxSeries: n, Window: time.Hour}, epoch)
	for i := range n {
		if r := g.Admit(benchHash(i), 1, "m", "", 0); r != ReasonNone {
			b.Fatalf("series %d refused: %s", i, r)
		}
	}
	return g
}

// evictCaches walks a buffer larger than the last-level cache, so that the guard's state is no
// longer cached: in the collector, decoding, translating and encoding evict it between batches.
func evictCaches(buf []byte) {
	for i := 0; i < len(buf); i += 64 {
		buf[i]++
	}
}

// BenchmarkSeen is the guard's part of the processor's hot path with 200k and 1M series admitted
// and the CPU caches evicted between batches (outside the timer): batches of 8,192 points, in
// runs of 256 whose state is prefetched before they are decided (as the processor does).
// in_order: the batch repeats the admission order (a scrape's order); shuffled: any order. It
// reports ns/point.
//
//	go test -run '^$' -bench BenchmarkSeen -benchtime 200x ./processor/seriesguardprocessor/internal/guard/
func BenchmarkSeen(b *testing.B) {
	for _, series := range benchSeries {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			g := admitted(b, series)
			benchLookups(b, series, benchHash, func(hashes []uint64) {
				g.Prefetch(hashes)
				for _, h := range hashes {
					if state, _ := g.Seen(h, 1); state != Admitted {
						b.Fatal("an admitted series was not found")
					}
				}
			})
		})
	}
}

// benchSeries are the numbers of series the lookup benchmarks admit: the gateway's sizes
// (BENCHMARKS.md's fixed-rate points).
var benchSeries = []int{200_000, 1_000_000}

// benchLookups times lookup over batches of 8,192 keys of the series admitted series (key(n)
// for series n), in runs of 256, with the CPU caches evicted between batches (outside the timer),
// in_order and shuffled; it reports ns/point.
func benchLookups(b *testing.B, series int, key func(int) uint64, lookup func(run []uint64)) {
	const points, run = 8192, 256
	evict := make([]byte, 64<<20)
	order := rand.New(rand.NewPCG(1, 2)).Perm(series)
	for _, shape := range []string{"in_order", "shuffled"} {
		b.Run(shape, func(b *testing.B) {
			batch := make([]uint64, points)
			i, total := 0, 0
			for b.Loop() {
				b.StopTimer()
				first := (i * points) % (series - points)
				for j := range batch {
					n := first + j
					if shape == "shuffled" {
						n = order[n]
					}
					batch[j] = key(n)
				}
				evictCaches(evict)
				b.StartTimer()
				for from := 0; from < points; from += run {
					lookup(batch[from : from+run])
				}
				total += points
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/point")
		})
	}
}

// BenchmarkSeenIdentity is BenchmarkSeen through raw identities: 200k and 1M series admitted,
// each with one identity remembered, and the batches looked up by identity (SeenIdentity, prefetched in
// runs of 256 with PrefetchIdentities), as the walker does for points of known identities. The
// identity keys its series' slot: a hit is one lookup and writes that slot only.
//
//	go test -run '^$' -bench BenchmarkSeenIdentity -benchtime 200x ./processor/seriesguardprocessor/internal/guard/
func BenchmarkSeenIdentity(b *testing.B) {
	identityOf := func(i int) uint64 { return benchHash(i) ^ 0x5555 }
	for _, series := range benchSeries {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			g := admitted(b, series)
			for i := range series {
				if state, _ := g.Seen(benchHash(i), 0); state != Admitted {
					b.Fatal("an admitted series was not found")
				}
				g.RememberIdentity(identityOf(i), 0)
			}
			benchLookups(b, series, identityOf, func(ids []uint64) {
				g.PrefetchIdentities(ids)
				for _, id := range ids {
					if !g.SeenIdentity(id, 1) {
						b.Fatal("a remembered identity was not found")
					}
				}
			})
		})
	}
}

// BenchmarkSweep sweeps 1M admitted series of which none or a quarter expire, then admits the
// expired ones again (outside the timer), so that every op sweeps the same state. It reports ns
// per series swept.
func BenchmarkSweep(b *testing.B) {
	const series = 1_000_000
	identityOf := func(i int) uint64 { return benchHash(i) ^ 0x5555 }
	for _, identities := range []bool{false, true} {
		for _, every := range []int{0, 4} {
			// identities=1: each series also has a raw identity, through which the series that
			// stay are seen (so the sweep carries their sighting over to them).
			name := fmt.Sprintf("expiring=%d%%", map[int]int{0: 0, 4: 25}[every])
			if identities {
				name = "identities=1/" + name
			}
			b.Run(name, func(b *testing.B) {
				g := admitted(b, series)
				remember := func(i int, now uint32) {
					if identities {
						g.Seen(benchHash(i), now)
						g.RememberIdentity(identityOf(i), now)
					}
				}
				for i := range series {
					remember(i, 0)
				}
				expires := func(i int) bool { return every > 0 && i%every == 0 }
				now := uint32(0)
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					now += 2 * uint32(time.Hour/tick)
					for i := range series {
						if expires(i) {
							continue
						}
						if identities {
							g.SeenIdentity(identityOf(i), now)
						} else {
							g.Seen(benchHash(i), now)
						}
					}
					want := int64(0)
					if every > 0 {
						want = series / int64(every)
					}
					b.StartTimer()
					if expired := g.Sweep(now + 1); expired != want {
						b.Fatalf("%d expired, want %d", expired, want)
					}
					b.StopTimer()
					for i := range series {
						if expires(i) {
							g.Admit(benchHash(i), 1, "m", "", now)
							remember(i, now)
						}
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*series), "ns/series")
			})
		}
	}
}
