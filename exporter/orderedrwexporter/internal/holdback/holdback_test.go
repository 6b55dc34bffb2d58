package holdback

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func series(i int, ts ...int64) sample.Series {
	labels := []prompb.Label{{Name: "__name__", Value: "metric"}, {Name: "series", Value: fmt.Sprint(i)}}
	hash, _ := sample.HashLabels(labels, nil)
	s := sample.Series{Hash: hash, Labels: sample.NewLabels(labels)}
	for _, t := range ts {
		s.Points = append(s.Points, sample.Point{T: t, V: float64(t)})
	}
	return s
}

func noLatency(int64) {}

// Samples whose release time passed count even while the release waits for room on the shards.
func TestHoldbackOldestDue(t *testing.T) {
	hold := New(Settings{WindowMillis: 5000, BucketMillis: 100, IdleMillis: 60_000}, nil, noLatency)
	_, ok := hold.OldestDue(0)
	assert.False(t, ok, "nothing held")
	hold.Add([]sample.Series{series(0, 10_050, 10_250)}, 10_300, 0)
	_, ok = hold.OldestDue(15_099)
	assert.False(t, ok, "not due before the end of its bucket")
	due, ok := hold.OldestDue(15_100)
	assert.True(t, ok)
	assert.Equal(t, int64(15_100), due)
	assert.Equal(t, int64(15_100), hold.bucketDue(sample.Point{T: 10_050}))
	hold.PopDue(15_100)
	due, ok = hold.OldestDue(20_000)
	assert.True(t, ok)
	assert.Equal(t, int64(15_300), due)
}

type tracked []uint64

func (t *tracked) Track(entry uint64) { *t = append(*t, entry) }

// Take puts each series on its shard with its points in timestamp order, whatever order they
// were held in; a pop tracks the oldest log entry of what it returns; released refs are freed.
func TestTakeOrdersEachSeriesOnItsShard(t *testing.T) {
	var entries tracked
	var latencies []int64
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000}, &entries, func(ms int64) { latencies = append(latencies, ms) })
	const shards = 3
	hold.Add([]sample.Series{series(0, 5_300), series(1, 5_000), series(2, 5_100)}, 5_400, 7)
	hold.Add([]sample.Series{series(0, 5_000, 5_100), series(1, 5_200)}, 5_500, 4)
	require.Equal(t, int64(6), hold.Held())
	oldest, ok := hold.OldestEntry()
	require.True(t, ok)
	assert.Equal(t, uint64(4), oldest)

	buckets := hold.PopDue(6_400)
	assert.Equal(t, tracked{4}, entries, "the pop tracked the oldest entry of its buckets")
	assert.Equal(t, uint64(4), MinEntry(buckets))
	assert.Equal(t, int64(6_100), hold.Due(buckets[0]))
	perShard, count := hold.Take(buckets, shards, 6_500, nil)
	assert.Equal(t, 6, count)
	assert.Zero(t, hold.Held())
	assert.Len(t, latencies, 1, "one sample of every 16 has its latency recorded")
	got := map[uint64][]int64{}
	for shard, batch := range perShard {
		for _, s := range batch {
			assert.Equal(t, uint64(shard), s.Hash%shards, "series on its shard")
			for _, p := range s.Points {
				got[s.Hash] = append(got[s.Hash], p.T)
			}
		}
	}
	assert.Equal(t, map[uint64][]int64{
		series(0).Hash: {5_000, 5_100, 5_300},
		series(1).Hash: {5_000, 5_200},
		series(2).Hash: {5_100},
	}, got)
	_, ok = hold.OldestEntry()
	assert.False(t, ok, "nothing held")
}

// A point more than MaxFutureMillis ahead of the clock is refused, not held: it neither holds a
// log entry nor counts against max_held_samples. Points at the bound are held as usual.
func TestAddRefusesPointsTooFarAhead(t *testing.T) {
	hold := New(Settings{WindowMillis: 5000, BucketMillis: 100, IdleMillis: 60_000, MaxFutureMillis: 60_000}, nil, noLatency)
	year2200 := int64(7_258_118_400_000)
	refused := hold.Add([]sample.Series{series(0, 10_000, 70_000, 70_001, year2200), series(1, year2200)}, 10_000, 3).TooFarAhead
	assert.Equal(t, 3, refused.Count)
	assert.Equal(t, series(0).Labels, refused.Example)
	assert.Equal(t, int64(2), hold.Held(), "the points up to now + 60 s are held")
	oldest, ok := hold.OldestEntry()
	require.True(t, ok)
	assert.Equal(t, uint64(3), oldest)
	buckets := hold.PopDue(75_100)
	perShard, count := hold.Take(buckets, 1, 75_100, nil)
	assert.Equal(t, 2, count)
	require.Len(t, perShard[0], 1, "series 1 had no point to hold")
	assert.Equal(t, []sample.Point{{T: 10_000, V: 10_000}, {T: 70_000, V: 70_000}}, perShard[0][0].Points)
	_, ok = hold.OldestEntry()
	assert.False(t, ok, "nothing held pins the log")

	unbounded := New(Settings{WindowMillis: 5000, BucketMillis: 100, IdleMillis: 60_000}, nil, noLatency)
	assert.Zero(t, unbounded.Add([]sample.Series{series(0, year2200)}, 10_000, 0).TooFarAhead.Count, "0 is no bound")
	assert.Equal(t, int64(1), unbounded.Held())
}

// The series of released points are forgotten once idle, by the timed release alone, with no
// push after them.
func TestIdleSeriesAreForgottenByTheRelease(t *testing.T) {
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000}, nil, noLatency)
	hold.Add([]sample.Series{series(0, 1000), series(1, 1000)}, 1000, 0)
	hold.Take(hold.PopDue(2100), 1, 2100, nil)
	assert.Equal(t, 2, hold.refs.Len(), "remembered while not idle")
	hold.PopDue(30_000)
	assert.Equal(t, 2, hold.refs.Len())
	hold.PopDue(61_001)
	assert.Zero(t, hold.refs.Len(), "forgotten by a release with nothing due")
}

// At MaxSeries series remembered, a new series' points are refused; known series are held.
func TestAddRefusesNewSeriesAtTheCap(t *testing.T) {
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000, MaxSeries: 2}, nil, noLatency)
	refused := hold.Add([]sample.Series{series(0, 1000), series(1, 1000), series(2, 1000, 1100)}, 1000, 0)
	assert.Equal(t, 2, refused.OverCap)
	assert.Equal(t, series(2).Labels, refused.OverCapExample)
	refused = hold.Add([]sample.Series{series(1, 1200), series(0, 1200)}, 1200, 0)
	assert.Zero(t, refused.OverCap, "known series are held at the cap")
	assert.Equal(t, int64(4), hold.Held())
	assert.Equal(t, 2, hold.refs.Len())
	// Once idle, series are forgotten and make room.
	hold.Take(hold.PopDue(2300), 1, 2300, nil)
	hold.PopDue(62_000)
	assert.Zero(t, hold.Add([]sample.Series{series(2, 62_000)}, 62_000, 0).OverCap)
}

// HeldBytes follows what is held: each entry, and the labels of a series once while it has held
// points; it is back to 0 once everything is released.
func TestHeldBytes(t *testing.T) {
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000}, nil, noLatency)
	s0, s1 := series(0, 5_000, 5_500), series(1, 5_000)
	labelBytes := sample.LabelsBytes(s0.Labels)
	hold.Add([]sample.Series{s0, s1}, 5_000, 0)
	assert.Equal(t, 2*labelBytes+3*heldEntryBytes, hold.HeldBytes())
	hold.Add([]sample.Series{series(0, 5_600)}, 5_000, 0)
	assert.Equal(t, 2*labelBytes+4*heldEntryBytes, hold.HeldBytes(), "a series' labels are counted once")

	hist := series(2)
	hist.Points = []sample.Point{{T: 5_000, H: &prompb.Histogram{PositiveDeltas: make([]int64, 10)}}}
	hold.Add([]sample.Series{hist}, 5_000, 0)
	assert.Equal(t, 3*labelBytes+4*heldEntryBytes+heldHistogramBytes+sample.HistogramBytes(hist.Points[0].H), hold.HeldBytes())

	hold.Take(hold.PopDue(6_100), 2, 6_100, nil) // the points at 5,000
	assert.Equal(t, labelBytes+2*heldEntryBytes, hold.HeldBytes(), "only series 0 is still held, with its points at 5,500 and 5,600")
	hold.Take(hold.PopAll(), 2, 6_100, nil)
	assert.Zero(t, hold.HeldBytes())
	assert.Zero(t, hold.Held())
}

// A held float sample is 16 bytes: series index, packed offsets, value.
func TestHeldEntryIs16Bytes(t *testing.T) {
	assert.Equal(t, int64(16), heldEntryBytes)
	assert.Equal(t, 16*1024, int(unsafe.Sizeof(entryChunk{})), "a chunk is a size class of its own")
}

// Timestamps come back exact from their offsets within the bucket, whatever the bucket's width
// (a power of two or not, 1 ms), for negative timestamps too and across chunk boundaries; the
// hold latency comes from the arrival offset, in ms.
func TestTimestampsRoundTripThroughOffsets(t *testing.T) {
	for _, bucketMillis := range []int64{1, 100, 128, 250, 999} {
		t.Run(fmt.Sprint(bucketMillis), func(t *testing.T) {
			var latencies []int64
			hold := New(Settings{WindowMillis: 5000, BucketMillis: bucketMillis, IdleMillis: 60_000}, nil,
				func(ms int64) { latencies = append(latencies, ms) })
			var want []sample.Point
			// One series with 3,000 points in a window: several chunks in the larger buckets.
			s := series(0)
			for i := range int64(3000) {
				ts := -1500 + i*7/3
				s.Points = append(s.Points, sample.Point{T: ts, V: float64(i)})
				want = append(want, sample.Point{T: ts, V: float64(i)})
			}
			const arrived = -6000
			hold.Add([]sample.Series{s}, arrived, 0)
			require.Equal(t, int64(3000), hold.Held())
			const now = 20_000
			perShard, count := hold.Take(hold.PopDue(now), 1, now, nil)
			require.Equal(t, 3000, count)
			require.Len(t, perShard[0], 1)
			assert.Equal(t, want, perShard[0][0].Points)
			require.NotEmpty(t, latencies)
			for _, l := range latencies {
				assert.Equal(t, int64(now-arrived), l)
			}
		})
	}
}

// A point added after its bucket was due (a clock going back) has its arrival clamped to the
// bucket's due time, and its timestamp is still exact.
func TestArrivalAfterDueIsClamped(t *testing.T) {
	var latencies []int64
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000}, nil,
		func(ms int64) { latencies = append(latencies, ms) })
	hold.Add([]sample.Series{series(0, 1_050)}, 9_000, 0)
	perShard, _ := hold.Take(hold.PopDue(9_000), 1, 9_500, nil)
	assert.Equal(t, []sample.Point{{T: 1_050, V: 1_050}}, perShard[0][0].Points)
	assert.Equal(t, []int64{9_500 - 2_100}, latencies, "held since its bucket's due time")
}

// Released chunks are reused by new buckets: holding in the steady state allocates none.
func TestChunksAreReused(t *testing.T) {
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000}, nil, noLatency)
	batch := make([]sample.Series, 3000)
	for i := range batch {
		batch[i] = series(i, 0)
	}
	at := func(ts int64) []sample.Series {
		for i := range batch {
			batch[i].Points[0] = sample.Point{T: ts, V: 1}
		}
		return batch
	}
	hold.Add(at(1000), 1000, 0)
	hold.Take(hold.PopDue(2100), 4, 2100, nil)
	require.Len(t, hold.spare, 3, "3,000 entries: 3 chunks")
	chunk := hold.spare[0]
	hold.Add(at(2000), 2000, 0)
	assert.Empty(t, hold.spare, "taken by the new bucket")
	assert.Same(t, chunk, hold.buckets[hold.key(sample.Point{T: 2000})].floats[2])
}

// A release lets go of the slots it gave its series: the next release numbers its own series from
// the first slot, whatever slots an older release gave them, and a ref released never keeps one.
func TestReleaseSlotsAreReset(t *testing.T) {
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000}, nil, noLatency)
	hold.Add([]sample.Series{series(0, 1000), series(1, 1000), series(2, 1000)}, 1000, 0)
	hold.Take(hold.PopDue(2100), 1, 2100, nil)
	for i := range uint32(3) {
		assert.Zero(t, hold.ref(i).slot, "ref %d", i)
	}
	// Series 2 first now: it takes the first slot; series 0, released before at slot 1, the
	// second. A slot kept from the older release would put series 0's point with series 2's.
	hold.Add([]sample.Series{series(2, 2000), series(0, 2000, 2010)}, 2000, 0)
	perShard, count := hold.Take(hold.PopDue(3100), 1, 3100, nil)
	assert.Equal(t, 3, count)
	require.Len(t, perShard[0], 2)
	assert.Equal(t, series(2).Hash, perShard[0][0].Hash)
	assert.Equal(t, []sample.Point{{T: 2000, V: 2000}}, perShard[0][0].Points)
	assert.Equal(t, series(0).Hash, perShard[0][1].Hash)
	assert.Equal(t, []sample.Point{{T: 2000, V: 2000}, {T: 2010, V: 2010}}, perShard[0][1].Points)
}

// A ref, the hold-back's state of a series, is 24 bytes (32 with its key in the table).
func TestSeriesRefIs24Bytes(t *testing.T) {
	assert.Equal(t, 24, int(unsafe.Sizeof(seriesRef{})))
}

// A series held without a pause keeps the labels block of its latest push (the encoder's cached
// one, in the exporter), not that of its first: the older copy can be freed. The accounting does
// not move, and a block of another length under the same hash (a collision) is not taken.
func TestHeldSeriesFollowsItsLatestLabels(t *testing.T) {
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000}, nil, noLatency)
	first := series(0, 1000)
	hold.Add([]sample.Series{first}, 1000, 0)
	bytes := hold.HeldBytes()
	again := series(0, 1500) // the same labels, in a block of its own
	require.NotSame(t, unsafe.StringData(string(first.Labels)), unsafe.StringData(string(again.Labels)))
	hold.Add([]sample.Series{again}, 1500, 0)
	assert.Same(t, unsafe.StringData(string(again.Labels)), unsafe.StringData(string(hold.ref(0).labelsBlock())))
	assert.Equal(t, bytes+heldEntryBytes, hold.HeldBytes(), "the labels are counted once, as before")

	colliding := sample.Series{Hash: first.Hash, Labels: first.Labels + "x", Points: []sample.Point{{T: 1600, V: 1}}}
	hold.Add([]sample.Series{colliding}, 1600, 0)
	assert.Equal(t, again.Labels, hold.ref(0).labelsBlock(), "a block of another length is not taken")
	assert.Equal(t, bytes+2*heldEntryBytes, hold.HeldBytes())

	perShard, count := hold.Take(hold.PopAll(), 1, 1600, nil)
	assert.Equal(t, 3, count)
	require.Len(t, perShard[0], 1)
	assert.Same(t, unsafe.StringData(string(again.Labels)), unsafe.StringData(string(perShard[0][0].Labels)))
	assert.Zero(t, hold.HeldBytes())
	assert.Equal(t, sample.Labels(""), hold.ref(0).labelsBlock(), "no labels kept once nothing is held")
}

// A release fills the arrays it is given, reusing their room: the second release of the same
// shape allocates no array, and its batches are right.
func TestTakeReusesArrays(t *testing.T) {
	hold := New(Settings{WindowMillis: 1000, BucketMillis: 100, IdleMillis: 60_000}, nil, noLatency)
	var arrays Arrays
	for round := range int64(3) {
		ts := 1000 + round*1000
		hold.Add([]sample.Series{series(0, ts, ts+10), series(1, ts), series(2, ts+20)}, ts, 0)
		points := arrays.Points
		perShard, count := hold.Take(hold.PopDue(ts+1100), 2, ts+1100, &arrays)
		require.Equal(t, 4, count)
		if round > 0 {
			assert.Same(t, &points[0], &arrays.Points[0], "the points' array is reused")
		}
		got := map[uint64][]sample.Point{}
		for shard, batch := range perShard {
			for _, s := range batch {
				assert.Equal(t, uint64(shard), s.Hash%2)
				got[s.Hash] = s.Points
			}
		}
		assert.Equal(t, map[uint64][]sample.Point{
			series(0).Hash: {{T: ts, V: float64(ts)}, {T: ts + 10, V: float64(ts + 10)}},
			series(1).Hash: {{T: ts, V: float64(ts)}},
			series(2).Hash: {{T: ts + 20, V: float64(ts + 20)}},
		}, got)
	}
}

// A release interval whose offsets would not fit in an entry is a programming error.
func TestNewRefusesBucketsTooWide(t *testing.T) {
	assert.Panics(t, func() { New(Settings{WindowMillis: 1000, BucketMillis: 0}, nil, noLatency) })
	assert.Panics(t, func() { New(Settings{WindowMillis: 1000, BucketMillis: maxBucketMillis + 1}, nil, noLatency) })
	hold := New(Settings{WindowMillis: 1000, BucketMillis: maxBucketMillis, IdleMillis: 60_000}, nil, noLatency)
	hold.Add([]sample.Series{series(0, maxBucketMillis*3-1)}, 0, 0)
	perShard, _ := hold.Take(hold.PopAll(), 1, 0, nil)
	assert.Equal(t, int64(maxBucketMillis*3-1), perShard[0][0].Points[0].T, "exact at the widest bucket")
}
