package holdback

import (
	"fmt"
	"testing"

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
	perShard, count := hold.Take(buckets, shards, 6_500)
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
	perShard, count := hold.Take(buckets, 1, 75_100)
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
	hold.Take(hold.PopDue(2100), 1, 2100)
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
	hold.Take(hold.PopDue(2300), 1, 2300)
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

	hold.Take(hold.PopDue(6_100), 2, 6_100) // the points at 5,000
	assert.Equal(t, labelBytes+2*heldEntryBytes, hold.HeldBytes(), "only series 0 is still held, with its points at 5,500 and 5,600")
	hold.Take(hold.PopAll(), 2, 6_100)
	assert.Zero(t, hold.HeldBytes())
	assert.Zero(t, hold.Held())
}
