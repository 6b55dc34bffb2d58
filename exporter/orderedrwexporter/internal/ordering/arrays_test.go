package ordering

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/scratch"
)

// Arrays go back to the pool, emptied, only when the producer and every batch made of them let
// go.
func TestArraysAreEmptiedOnlyByTheLastRelease(t *testing.T) {
	pool := arraysPool{max: 1, floor: 10}
	a := pool.get()
	a.Points = append(a.Points, sample.Point{T: 1, V: 1})
	a.Series = append(a.Series, series(0, 1))
	a.hold()
	a.hold() // two batches queued
	a.Release()
	a.Release()
	assert.Equal(t, int64(1), a.Points[0].T, "a batch still uses them")
	assert.NotEmpty(t, a.Series[0].Labels)
	a.Release()
	assert.Zero(t, a.Points[0], "emptied once the last batch is done")
	assert.Empty(t, a.Series[0].Labels, "no labels kept alive by the pool")
	assert.Same(t, a, pool.get(), "kept for the next push")
	assert.NotSame(t, a, pool.get(), "at most max kept")
}

// Arrays beyond the floor are kept while the batches need them (a release at a high rate), and
// let go once an outsized batch (a shutdown's) is past.
func TestArraysBeyondTheFloorAreKeptWhileNeeded(t *testing.T) {
	pool := arraysPool{max: 1, floor: 10}
	// use makes a batch of points from the pool's arrays and returns the array it used.
	use := func(points int) *sample.Point {
		a := pool.get()
		a.Points = scratch.Reuse(a.Points, points)[:points]
		used := unsafe.SliceData(a.Points)
		a.Release()
		return used
	}
	steady := use(1000)
	for range 10 {
		require.True(t, steady == use(1000), "a steady 1,000 points, 100 times the floor: kept")
	}
	outsized := use(100_000)
	require.True(t, outsized == use(1000), "an outsized one is kept while recent")
	for range 200 {
		if use(1000) != outsized {
			return // let go, and one of the steady size kept instead
		}
	}
	t.Fatal("the outsized arrays were kept 200 batches after the last one that needed them")
}

// Pushes and releases reuse their arrays while earlier batches are still queued or on the wire:
// every sample still arrives, each series in order.
func TestReusedArraysDeliverEverySample(t *testing.T) {
	for _, holdback := range []bool{false, true} {
		t.Run(map[bool]string{false: "no_holdback", true: "holdback"}[holdback], func(t *testing.T) {
			backend := promtest.NewBackend(t)
			backend.SetDelay(2 * time.Millisecond)
			clock := newFakeClock(0)
			h := newHarness(t, backend, Settings{MinShards: 3, MaxShards: 3, QueueSize: 6, Holdback: holdback,
				Window: time.Second, MaxHeldSamples: 1_000_000, Clock: clock})
			const numSeries, pushes = 50, 40
			var want []int64
			for p := range int64(pushes) {
				ts := 1000 + p*100
				want = append(want, ts)
				batch := make([]sample.Series, numSeries)
				for i := range batch {
					batch[i] = series(i, ts)
				}
				require.NoError(t, h.engine.Push(context.Background(), batch))
				clock.Set(ts + 100)
				if holdback {
					h.engine.ReleaseDue()
				}
			}
			clock.Set(1_000_000)
			if holdback {
				h.engine.ReleaseDue()
			}
			require.Eventually(t, func() bool { return backend.StoredCount() == numSeries*pushes }, 10*time.Second, time.Millisecond)
			requireStoredInOrder(t, backend, numSeries, want...)
			h.shutdown(t)
		})
	}
}

// Push keeps nothing of its caller's arrays once it returns (the encoder reuses them for the next
// push): a pusher that overwrites its points right after Push still has the original ones sent,
// whether they were queued at once (no hold-back; late under hold-back) or held.
func TestPushKeepsNothingOfTheCallersArrays(t *testing.T) {
	for _, holdback := range []bool{false, true} {
		t.Run(map[bool]string{false: "no_holdback", true: "holdback"}[holdback], func(t *testing.T) {
			backend := promtest.NewBackend(t)
			backend.SetDelay(100 * time.Millisecond)
			clock := newFakeClock(10_000)
			h := newHarness(t, backend, Settings{MinShards: 2, MaxShards: 2, QueueSize: 8, Holdback: holdback,
				Window: time.Second, MaxHeldSamples: 1_000_000, Clock: clock})
			const numSeries = 20
			// Other series first, sent at once (late under hold-back): the shards are busy
			// sending them while the batch under test waits in their queues.
			others := make([]sample.Series, numSeries)
			for i := range others {
				others[i] = series(numSeries+i, 1000)
			}
			require.NoError(t, h.engine.Push(context.Background(), others))
			// Under hold-back, 1000 and 2000 are late at 10,000 and queued at once; 9500 is held.
			want := []int64{1000, 2000, 9500}
			// One array of points for the whole batch, as the encoder makes it.
			points := make([]sample.Point, 0, numSeries*len(want))
			batch := make([]sample.Series, numSeries)
			for i := range batch {
				batch[i] = series(i, want...)
				first := len(points)
				points = append(points, batch[i].Points...)
				batch[i].Points = points[first:]
			}
			require.NoError(t, h.engine.Push(context.Background(), batch))
			// What an encoder reusing its output does next.
			clear(points)
			clear(batch)
			clock.Set(1_000_000)
			if holdback {
				h.engine.ReleaseDue()
			}
			require.Eventually(t, func() bool { return backend.StoredCount() == numSeries*(len(want)+1) }, 10*time.Second, time.Millisecond)
			requireStoredInOrder(t, backend, numSeries, want...)
			h.shutdown(t)
		})
	}
}

// byShard's one-shard path splits as the general one does (the series in their order, one batch
// that appending to cannot overwrite past), and reuses the arrays of the push before.
func TestByShardOneShardAsTheGeneralSplit(t *testing.T) {
	var in []sample.Series
	for i := range 50 {
		in = append(in, series(i, int64(i)))
	}
	general := byShard(in, 3, nil, false)
	require.Len(t, general, 3)
	for i, batch := range general {
		assert.Equal(t, cap(batch), len(batch), "shard %d", i)
		for _, s := range batch {
			assert.Equal(t, uint64(i), s.Hash%3)
		}
	}

	arrays := new(batchArrays)
	one := byShard(in, 1, arrays, false)
	require.Len(t, one, 1)
	assert.Equal(t, in, one[0], "every series, in order")
	assert.Equal(t, cap(one[0]), len(one[0]))
	assert.NotSame(t, &in[0], &one[0][0], "copied: the caller's array is not kept")
	first := &one[0][0]
	allocs := testing.AllocsPerRun(10, func() { one = byShard(in, 1, arrays, false) })
	assert.Zero(t, allocs, "the arrays of the push before are reused")
	assert.Same(t, first, &one[0][0])
	assert.Equal(t, in, one[0])
}

// split queues each series with one float point as a One and the others as Series, each in the
// batch of its shard (hash modulo shards) and in its order; resplit splits them again for another
// number of shards, losing and changing nothing (the order of different series is not kept then,
// as it was not before Ones: only a series' own points have an order to keep).
func TestSplitQueuesOnesApart(t *testing.T) {
	var in []sample.Series
	at := map[uint64]int{}
	for i := range 60 {
		s := series(i, int64(i))
		switch i % 3 {
		case 1:
			s = series(i, int64(i), int64(i)+1)
		case 2:
			s.Points[0].H = &prompb.Histogram{Timestamp: int64(i)}
		}
		at[s.Hash] = i
		in = append(in, s)
	}
	check := func(b shardBatches, shards int, ordered bool) {
		t.Helper()
		require.Equal(t, shards, b.shards())
		assert.Equal(t, 20+40+20, b.samples(0))
		got := map[uint64]sample.Series{}
		for i := range shards {
			last := -1
			for _, o := range b.ones[i] {
				assert.Equal(t, uint64(i), o.Hash%uint64(shards))
				if ordered {
					assert.Greater(t, at[o.Hash], last, "in their order")
				}
				last = at[o.Hash]
				got[o.Hash] = sample.Series{Hash: o.Hash, Labels: o.Labels, Points: []sample.Point{{T: o.T, V: o.V}}}
			}
			last = -1
			for _, s := range b.series[i] {
				assert.Equal(t, uint64(i), s.Hash%uint64(shards))
				assert.False(t, s.IsOne())
				if ordered {
					assert.Greater(t, at[s.Hash], last, "in their order")
				}
				last = at[s.Hash]
				got[s.Hash] = s
			}
		}
		require.Len(t, got, len(in))
		for _, s := range in {
			assert.Equal(t, s, got[s.Hash])
		}
	}
	for _, shards := range []int{1, 3} {
		b := split(in, shards, new(batchArrays))
		check(b, shards, true)
		check(b.resplit(shards+1), shards+1, false)
	}
	onlyOnes := split(in[:1], 2, new(batchArrays))
	assert.Nil(t, onlyOnes.series, "no Series batches when every series is a One")
	assert.Equal(t, 2, onlyOnes.shards())
}
