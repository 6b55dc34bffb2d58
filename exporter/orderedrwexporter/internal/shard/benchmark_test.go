package shard

import (
	"math/rand/v2"
	"testing"

	"github.com/otelcol-fleet/otelcol-fleet/internal/seriestable"
)

// BenchmarkHandOver moves the state of 1M series from 5 shards to 4, as a reshard does while
// pushes wait: the figure the README gives for the cost of a reshard.
func BenchmarkHandOver(b *testing.B) {
	const numSeries = 1_000_000
	hashes := make([]uint64, numSeries)
	for i := range hashes {
		hashes[i] = rand.Uint64()
	}
	fill := func(n int) []*Shard {
		shards := make([]*Shard, n)
		for i := range shards {
			shards[i] = &Shard{state: seriestable.New[seriesState]()}
		}
		return shards
	}
	for b.Loop() {
		b.StopTimer()
		from := fill(5)
		for _, h := range hashes {
			s := from[h%5]
			idx, _ := s.state.Find(seriestable.NoSlot, h)
			s.state.Slot(idx).lastSent = 1
			s.tracked.Add(1)
		}
		to := fill(4)
		b.StartTimer()
		HandOver(from, to)
	}
}
