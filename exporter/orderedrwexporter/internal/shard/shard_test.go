package shard

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/reshard"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct{ ms int64 }

func (c *clock) Now() time.Time { return time.UnixMilli(c.ms) }

// hooks records what a shard reports.
type hooks struct {
	mu      sync.Mutex
	keeping bool
	kept    int
	sent    int
	dropped map[string]int
	done    []Batch
	// encoded are the batches as Encoded was told of them; encodedBytes sums their sizes.
	encoded      []Batch
	encodedBytes int64
}

func (h *hooks) Keeping() bool { return h.keeping }
func (h *hooks) Kept(n int)    { h.kept += n }
func (h *hooks) Closing() bool { return false }
func (h *hooks) Sent(n int)    { h.sent += n }
func (h *hooks) Split()        {}
func (h *hooks) Dropped(n int, reason string) {
	if n > 0 {
		h.dropped[reason] += n
	}
}
func (h *hooks) Encoded(b Batch, bytes int64) {
	h.mu.Lock()
	h.encoded = append(h.encoded, b)
	h.encodedBytes += bytes
	h.mu.Unlock()
}
func (h *hooks) Done(b Batch, _ bool) { h.mu.Lock(); h.done = append(h.done, b); h.mu.Unlock() }

// process is what Run does with a batch, in one goroutine: prepare it, then send it.
func (s *Shard) process(b Batch) (kept bool) { return s.send(s.prepare(b)) }

// keptBytes is what an idle shard should have let go of: its encoding buffers' bytes, plus one
// for each sent request's buffer it keeps (zero only when it keeps none of either).
func keptBytes(s *Shard) int { return s.enc.KeptBytes() + len(s.bodies) }

func series(i int, ts ...int64) sample.Series {
	labels := []prompb.Label{{Name: "__name__", Value: "metric"}, {Name: "series", Value: fmt.Sprint(i)}}
	hash, _ := sample.HashLabels(labels, nil)
	s := sample.Series{Hash: hash, Labels: sample.NewLabels(labels)}
	for _, t := range ts {
		s.Points = append(s.Points, sample.Point{T: t, V: float64(t)})
	}
	return s
}

// batchOf is series as the engine queues them: those with one float point as Ones.
func batchOf(series []sample.Series) Batch {
	var b Batch
	for _, s := range series {
		if s.IsOne() {
			b.Ones = append(b.Ones, sample.One{Hash: s.Hash, Labels: s.Labels, T: s.Points[0].T, V: s.Points[0].V})
		} else {
			b.Series = append(b.Series, s)
		}
	}
	return b
}

func newShard(t *testing.T, backend *promtest.Backend, maxBatchBytes int, c *clock) (*Shard, *hooks) {
	t.Helper()
	h := &hooks{dropped: map[string]int{}}
	s := New(Settings{
		QueueSize:     10,
		MaxBatchBytes: maxBatchBytes,
		IdleTimeout:   time.Second,
		Clock:         c,
		Poster:        &transport.HTTPPoster{Client: backend.Server.Client(), URL: backend.URL(), UserAgent: "test/0"},
		Retry:         configretry.NewDefaultBackOffConfig(),
		SendContext:   context.Background(),
		Drops:         telemetry.NewDropLog(zap.NewNop(), time.Second),
	}, h)
	return s, h
}

// A sample not newer than the last sent of its series never reaches the backend; requests stay
// under MaxBatchBytes; idle series are forgotten.
func TestProcessDropsStaleSamplesAndBoundsRequests(t *testing.T) {
	backend := promtest.NewBackend(t)
	c := &clock{ms: 0}
	s, h := newShard(t, backend, 300, c)
	var first []sample.Series
	for i := range 20 {
		first = append(first, series(i, 2000, 1000)) // out of order within the series: sorted
	}
	assert.False(t, s.process(batchOf(first)))
	assert.Equal(t, 40, h.sent)
	assert.Greater(t, backend.Requests(), 2, "requests bounded by size")
	assert.Equal(t, int64(20), s.Tracked())

	assert.False(t, s.process(batchOf([]sample.Series{series(0, 1500, 3000), series(1, 2000)})))
	assert.Equal(t, map[string]int{telemetry.ReasonStale: 2}, h.dropped)
	assert.Equal(t, 41, h.sent)
	for i := range 20 {
		var got []int64
		for _, p := range backend.Stored()[promtest.LabelsKey(series(i).Labels.Prompb())] {
			got = append(got, p.T)
		}
		want := []int64{1000, 2000}
		if i == 0 {
			want = append(want, 3000)
		}
		require.Equal(t, want, got, "series %d", i)
	}

	c.ms = 2000
	s.process(batchOf([]sample.Series{series(0, 4000)}))
	assert.Equal(t, int64(1), s.Tracked(), "idle series forgotten")
}

// Stale points anywhere in a series (before the last sent, or repeating a timestamp of the
// batch) are left out of the request and counted; the fresh ones are sent in order. The batch
// keeps its points (sorted): its size, counted when it is done, is the size it was queued with.
func TestProcessFiltersStalePointsWithoutChangingTheBatch(t *testing.T) {
	backend := promtest.NewBackend(t)
	s, h := newShard(t, backend, 3_000_000, &clock{})
	require.False(t, s.process(batchOf([]sample.Series{series(0, 2000)})))
	withHistogram := series(1, 1000)
	withHistogram.Points = append(withHistogram.Points, sample.Point{T: 1000, H: &prompb.Histogram{Timestamp: 1000}})
	batch := []sample.Series{series(0, 3000, 1000, 3000, 4000, 2000, 5000), series(2, 7, 7), withHistogram}
	before := sample.Bytes(batch)
	require.False(t, s.process(batchOf(batch)))
	assert.Equal(t, map[string]int{telemetry.ReasonStale: 5}, h.dropped, "1000, 2000, the second 3000, the second 7, the histogram at 1000")
	assert.Equal(t, 1+3+1+1, h.sent)
	assert.Equal(t, before, sample.Bytes(batch))
	assert.Equal(t, []sample.Point{{T: 1000, V: 1000}, {T: 2000, V: 2000}, {T: 3000, V: 3000}, {T: 3000, V: 3000}, {T: 4000, V: 4000}, {T: 5000, V: 5000}}, batch[0].Points)
	var got []int64
	for _, p := range backend.Stored()[promtest.LabelsKey(series(0).Labels.Prompb())] {
		got = append(got, p.T)
	}
	assert.Equal(t, []int64{2000, 3000, 4000, 5000}, got)
}

// blockingPoster holds every request until release is closed, then stores it in backend.
type blockingPoster struct {
	posted  chan struct{}
	release chan struct{}
	next    transport.Poster
}

func (p *blockingPoster) Post(ctx context.Context, body []byte) error {
	p.posted <- struct{}{}
	<-p.release
	return p.next.Post(ctx, body)
}

// While a request waits for the backend, the batches queued behind it are encoded and given back
// (their series, 40 bytes a sample, are not kept waiting): they wait as compressed requests, and
// still hold their place in the queue, which bounds them; they are done with once sent, in order.
// The one being sent does not count, as when batches waited unencoded.
func TestBatchesWaitEncodedBehindARequest(t *testing.T) {
	backend := promtest.NewBackend(t)
	poster := &blockingPoster{posted: make(chan struct{}, 10), release: make(chan struct{}),
		next: &transport.HTTPPoster{Client: backend.Server.Client(), URL: backend.URL()}}
	h := &hooks{dropped: map[string]int{}}
	s := New(Settings{
		QueueSize: 2, MaxBatchBytes: 1 << 20, IdleTimeout: time.Minute, Clock: &clock{ms: 1000},
		Poster: poster, Retry: configretry.NewDefaultBackOffConfig(), SendContext: context.Background(),
		Drops: telemetry.NewDropLog(zap.NewNop(), time.Minute),
	}, h)
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	for i := range 3 {
		require.NoError(t, s.Push(context.Background(), batchOf([]sample.Series{series(i, 1000), series(i+10, 1000)})))
	}
	<-poster.posted
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.encoded) == 3
	}, 5*time.Second, time.Millisecond, "the batches behind the request in flight are encoded")
	h.mu.Lock()
	assert.Empty(t, h.done, "none is done before it is sent")
	for _, b := range h.encoded {
		assert.Len(t, b.Ones, 2, "each given back with its series")
	}
	assert.Positive(t, h.encodedBytes)
	h.mu.Unlock()
	assert.Equal(t, 2, s.Queued(), "encoded and waiting: queued; the one being sent is not")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Push(ctx, batchOf([]sample.Series{series(50, 1000)})), context.DeadlineExceeded,
		"encoded batches hold their place: the queue is full")

	close(poster.release)
	s.Close()
	<-done
	assert.Equal(t, 6, backend.StoredCount())
	assert.Equal(t, 6, h.sent)
	require.Len(t, h.done, 3)
	var doneBytes int64
	for _, b := range h.done {
		assert.Nil(t, b.Ones, "done without its series")
		doneBytes += b.Encoded
	}
	assert.Equal(t, h.encodedBytes, doneBytes, "the sizes Encoded was told, carried to Done")
	assert.Zero(t, s.Queued())
}

// A shutdown keeping the WAL: nothing is sent, the batch counts as kept; Run reports each batch.
func TestRunKeepsBatchesInTheWAL(t *testing.T) {
	backend := promtest.NewBackend(t)
	s, h := newShard(t, backend, 3_000_000, &clock{})
	h.keeping = true
	done := make(chan struct{})
	go func() { s.Run(); close(done) }()
	require.NoError(t, s.Push(context.Background(), Batch{Series: []sample.Series{series(0, 1000, 2000)}, Due: 5, Entry: 7}))
	s.Close()
	<-done
	assert.Equal(t, 2, h.kept)
	assert.Zero(t, backend.Requests())
	assert.Equal(t, []Batch{{Series: []sample.Series{series(0, 1000, 2000)}, Due: 5, Entry: 7}}, h.encoded,
		"given back with its series, not encoded")
	assert.Equal(t, []Batch{{Due: 5, Entry: 7}}, h.done, "done without them")
}

type atomicClock struct{ ms atomic.Int64 }

func (c *atomicClock) Now() time.Time { return time.UnixMilli(c.ms.Load()) }

// Idle series are forgotten on a timer, also when no batch comes after them.
func TestIdleSeriesAreForgottenWithoutTraffic(t *testing.T) {
	backend := promtest.NewBackend(t)
	clk := &atomicClock{}
	clk.ms.Store(1000)
	h := &hooks{dropped: map[string]int{}}
	s := New(Settings{
		QueueSize: 1, MaxBatchBytes: 1 << 20, IdleTimeout: time.Minute, SweepInterval: 10 * time.Millisecond,
		Clock: clk, Poster: &transport.HTTPPoster{Client: backend.Server.Client(), URL: backend.URL()},
		Retry: configretry.NewDefaultBackOffConfig(), SendContext: context.Background(),
		Drops: telemetry.NewDropLog(zap.NewNop(), time.Minute),
	}, h)
	done := make(chan struct{})
	go func() { defer close(done); s.Run() }()
	require.NoError(t, s.Push(context.Background(), Batch{Series: []sample.Series{series(0, 1000), series(1, 1000)}}))
	require.Eventually(t, func() bool { return s.Tracked() == 2 }, 5*time.Second, time.Millisecond)
	clk.ms.Store(30_000)
	time.Sleep(50 * time.Millisecond) // several sweeps: not idle long enough yet
	assert.Equal(t, int64(2), s.Tracked())
	clk.ms.Store(62_000)
	require.Eventually(t, func() bool { return s.Tracked() == 0 }, 5*time.Second, time.Millisecond,
		"forgotten by the timer, with no batch after them")
	s.Close()
	<-done
}

// A shard keeps its request scratch while batches come, and lets go of it after a tick of the
// sweep timer with none: from Run, on its timer, too.
func TestIdleShardLetsGoOfItsScratch(t *testing.T) {
	batch := func(t0 int64) []sample.Series {
		out := make([]sample.Series, 100)
		for i := range out {
			out[i] = series(i, t0)
		}
		return out
	}
	t.Run("ticks", func(t *testing.T) {
		backend := promtest.NewBackend(t)
		s, _ := newShard(t, backend, 1<<20, &clock{ms: 1000})
		// As Series: a batch's Ones use the scratch only when one of them is removed (below).
		s.busy = true
		s.process(Batch{Series: batch(1000)})
		require.GreaterOrEqual(t, cap(s.request), 100)
		s.releaseIdle()
		require.GreaterOrEqual(t, cap(s.request), 100, "a batch came since the last tick: kept")
		s.busy = true
		s.process(Batch{Series: batch(2000)})
		s.releaseIdle()
		require.GreaterOrEqual(t, cap(s.request), 100)
		require.Positive(t, keptBytes(s))
		s.releaseIdle()
		assert.Nil(t, s.request, "a tick without a batch: let go")
		assert.Nil(t, s.points)
		assert.Zero(t, keptBytes(s), "the encoding buffers too")
		s.process(Batch{Series: batch(3000)})
		assert.Equal(t, 300, backend.StoredCount(), "the next batch makes a new scratch")

		// Ones, the first stale: the others are copied into the scratch, let go of alike.
		ones := batchOf(batch(4000))
		ones.Ones[0].T = 3000
		s.busy = true
		s.process(ones)
		require.GreaterOrEqual(t, cap(s.ones), 99)
		assert.Equal(t, 399, backend.StoredCount())
		s.releaseIdle()
		s.releaseIdle()
		assert.Nil(t, s.ones)
	})
	t.Run("run", func(t *testing.T) {
		backend := promtest.NewBackend(t)
		h := &hooks{dropped: map[string]int{}}
		s := New(Settings{
			QueueSize: 1, MaxBatchBytes: 1 << 20, IdleTimeout: time.Minute, SweepInterval: 5 * time.Millisecond,
			Clock: &clock{ms: 1000}, Poster: &transport.HTTPPoster{Client: backend.Server.Client(), URL: backend.URL()},
			Retry: configretry.NewDefaultBackOffConfig(), SendContext: context.Background(),
			Drops: telemetry.NewDropLog(zap.NewNop(), time.Minute),
		}, h)
		done := make(chan struct{})
		go func() { defer close(done); s.Run() }()
		require.NoError(t, s.Push(context.Background(), Batch{Series: batch(1000)}))
		require.Eventually(t, func() bool { return backend.StoredCount() == 100 }, 5*time.Second, time.Millisecond)
		time.Sleep(50 * time.Millisecond) // ten ticks without a batch
		s.Close()
		<-done
		assert.Nil(t, s.request)
		assert.Zero(t, keptBytes(s))
	})
}

// At MaxTracked series, the samples of a new series are dropped and counted; known series go on.
func TestNewSeriesBeyondTheCapAreDropped(t *testing.T) {
	backend := promtest.NewBackend(t)
	clk := &atomicClock{}
	clk.ms.Store(1000)
	h := &hooks{dropped: map[string]int{}}
	s := New(Settings{
		QueueSize: 1, MaxBatchBytes: 1 << 20, IdleTimeout: time.Minute, MaxTracked: 2,
		Clock: clk, Poster: &transport.HTTPPoster{Client: backend.Server.Client(), URL: backend.URL()},
		Retry: configretry.NewDefaultBackOffConfig(), SendContext: context.Background(),
		Drops: telemetry.NewDropLog(zap.NewNop(), time.Minute),
	}, h)
	s.process(Batch{Series: []sample.Series{series(0, 1000), series(1, 1000), series(2, 1000, 1100)}})
	s.process(Batch{Series: []sample.Series{series(1, 2000), series(3, 2000), series(0, 2000)}})
	assert.Equal(t, int64(2), s.Tracked())
	assert.Equal(t, 3, h.dropped[telemetry.ReasonMaxTrackedSeries])
	assert.Equal(t, 4, h.sent)
	assert.NotContains(t, backend.Stored(), promtest.LabelsKey(series(2).Labels.Prompb()))

	// The same for a batch's Ones, after its Series.
	s.process(batchOf([]sample.Series{series(4, 3000, 3100), series(1, 3000), series(5, 3000), series(0, 3000)}))
	assert.Equal(t, int64(2), s.Tracked())
	assert.Equal(t, 3+2+1, h.dropped[telemetry.ReasonMaxTrackedSeries], "series 4's two samples and series 5's")
	assert.Equal(t, 4+2, h.sent)
	assert.NotContains(t, backend.Stored(), promtest.LabelsKey(series(5).Labels.Prompb()))
}

// A batch's Ones are sent as its Series are, in the same requests: a One not newer than the last
// sent of its series is counted stale and left out, the others are delivered after what was sent
// of their series before.
func TestProcessSendsOnes(t *testing.T) {
	backend := promtest.NewBackend(t)
	s, h := newShard(t, backend, 3_000_000, &clock{})
	first := batchOf([]sample.Series{series(0, 2000), series(1, 3000, 1000)})
	require.Len(t, first.Ones, 1)
	require.Len(t, first.Series, 1)
	require.False(t, s.process(first))
	assert.Equal(t, 3, h.sent)

	second := batchOf([]sample.Series{series(0, 2000), series(1, 4000), series(2, 500), series(3, 100, 50)})
	require.Len(t, second.Ones, 3)
	queued := slices.Clone(second.Ones)
	require.False(t, s.process(second))
	assert.Equal(t, queued, second.Ones, "the batch's Ones are not changed")
	assert.Equal(t, map[string]int{telemetry.ReasonStale: 1}, h.dropped, "series 0 at 2000 again")
	assert.Equal(t, 3+4, h.sent)
	for i, want := range [][]int64{{2000}, {1000, 3000, 4000}, {500}, {50, 100}} {
		var got []int64
		for _, p := range backend.Stored()[promtest.LabelsKey(series(i).Labels.Prompb())] {
			got = append(got, p.T)
			assert.Equal(t, float64(p.T), p.V)
		}
		assert.Equal(t, want, got, "series %d", i)
	}
	assert.Equal(t, int64(4), s.Tracked())
}

// How a shard counts each answer: a 400 naming no sample drops the request whole as rejected (its
// samples are still marked sent: nothing older follows them); a named rejection costs that sample
// only; a 429 is retried and delivered.
func TestProcessCountsEachAnswer(t *testing.T) {
	backend := promtest.NewBackend(t)
	s, h := newShard(t, backend, 3_000_000, &clock{})
	backend.Script(promtest.Answer{Status: 400, Body: "bad request"})
	s.process(batchOf([]sample.Series{series(0, 1000), series(1, 1000)}))
	assert.Equal(t, map[string]int{telemetry.ReasonRejected: 2}, h.dropped)
	assert.Equal(t, 1, backend.Requests())

	backend.Script(promtest.Answer{Status: 400, Body: "out of order sample"}, promtest.Answer{Status: 204})
	// First request refused naming a sample; the first half (series 2) is answered 204 by the
	// script without being stored, the second half (series 3) reaches the store.
	s.process(batchOf([]sample.Series{series(2, 1000), series(3, 1000)}))
	assert.Equal(t, 2, h.sent)
	assert.Equal(t, 1+3, backend.Requests(), "the refused request and its two halves")

	backend.Script(promtest.Answer{Status: 400, Body: "per-user series limit of 1000 exceeded"})
	s.process(batchOf([]sample.Series{series(4, 1000)}))
	assert.Equal(t, 1, h.dropped[telemetry.ReasonLimits])
}

// HandOver moves each series' last sent timestamp to the shard its hash selects among the new
// shards: a sample not newer than what the old shards sent is still filtered out after a reshard,
// and the new shards track exactly the series the old ones did. The meter sees what is queued,
// removed and sent.
func TestHandOverKeepsTheStaleFilter(t *testing.T) {
	backend := promtest.NewBackend(t)
	c := &clock{ms: 0}
	meter := new(reshard.Meter)
	newShards := func(n int) ([]*Shard, *hooks) {
		h := &hooks{dropped: map[string]int{}}
		shards := make([]*Shard, n)
		for i := range shards {
			shards[i], _ = newShard(t, backend, 3_000_000, c)
			shards[i].hooks, shards[i].set.Meter = h, meter
		}
		return shards, h
	}
	byHash := func(shards []*Shard, batch []sample.Series) {
		perShard := make([][]sample.Series, len(shards))
		for _, s := range batch {
			i := s.Hash % uint64(len(shards))
			perShard[i] = append(perShard[i], s)
		}
		for i, b := range perShard {
			shards[i].process(batchOf(b))
		}
	}
	const n = 100
	old, _ := newShards(2)
	var batch []sample.Series
	for i := range n {
		batch = append(batch, series(i, 1000, 2000))
	}
	byHash(old, batch)

	next, h := newShards(3)
	HandOver(old, next)
	var tracked int64
	for _, s := range next {
		assert.NotZero(t, s.Tracked(), "every new shard gets series")
		tracked += s.Tracked()
	}
	assert.Equal(t, int64(n), tracked)
	assert.Zero(t, old[0].Tracked()+old[1].Tracked())

	batch = batch[:0]
	for i := range n {
		batch = append(batch, series(i, 1500, 2000, 3000))
	}
	byHash(next, batch)
	assert.Equal(t, map[string]int{telemetry.ReasonStale: 2 * n}, h.dropped, "1500 and 2000 were sent by the old shards")
	assert.Equal(t, n, h.sent)
	for i := range n {
		var got []int64
		for _, p := range backend.Stored()[promtest.LabelsKey(series(i).Labels.Prompb())] {
			got = append(got, p.T)
		}
		require.Equal(t, []int64{1000, 2000, 3000}, got, "series %d", i)
	}
	assert.Equal(t, reshard.Counts{Out: 3 * n, Removed: 2 * n}, meter.Counts())
}

// A series' state is 8 bytes: 16 with its key in the table.
func TestSeriesStateIs8Bytes(t *testing.T) {
	assert.Equal(t, 8, int(unsafe.Sizeof(seriesState(0))))
}

// The last sent timestamp comes back as kept, whatever the last-seen stamp beside it; nothing sent
// is MinInt64; a timestamp beyond the 48 bits is kept clamped.
func TestSeriesStateRoundTrips(t *testing.T) {
	var st seriesState
	assert.Equal(t, int64(math.MinInt64), st.lastSent(), "nothing sent yet")
	for _, ts := range []int64{0, 1, -1, 1_733_000_000_000, -9_223_372_036_854, 9_223_372_036_854, minSent, maxSent} {
		for _, stamp := range []uint16{0, 1, math.MaxUint16} {
			st = 0
			st.seen(stamp)
			st.setLastSent(ts)
			assert.Equal(t, ts, st.lastSent(), "ts %d, stamp %d", ts, stamp)
			assert.Equal(t, uint16(0), st.idleUnits(stamp))
			assert.Equal(t, uint16(7), st.idleUnits(stamp+7))
			st.seen(stamp + 7)
			assert.Equal(t, ts, st.lastSent(), "the stamp leaves the timestamp alone")
			assert.Equal(t, uint16(0), st.idleUnits(stamp+7))
		}
	}
	st.setLastSent(math.MaxInt64)
	assert.Equal(t, int64(maxSent), st.lastSent())
	st.setLastSent(math.MinInt64)
	assert.Equal(t, int64(minSent), st.lastSent())
}

// A series is never forgotten before IdleTimeout since it was last seen, whatever the phase of
// the stamps' units and however long ago the last sweep was (a stamp wraps around); it is
// forgotten within a unit after.
func TestIdleExpiryIsNeverEarly(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Millisecond, time.Second, 15 * time.Minute, 100 * time.Hour} {
		t.Run(idle.String(), func(t *testing.T) {
			s := New(Settings{IdleTimeout: idle}, nil)
			idleMillis := idle.Milliseconds()
			for _, seenAt := range []int64{1_733_000_000_000, 1_733_000_000_001, 1_733_000_000_000 + s.seenUnit - 1} {
				st := seriesState(0)
				st.seen(s.stamp(seenAt))
				expired := func(now int64) bool { return int64(st.idleUnits(s.stamp(now))) > s.idleUnits }
				for _, after := range []int64{0, idleMillis - 1, idleMillis} {
					if after >= 0 {
						assert.False(t, expired(seenAt+after), "seen at %d, %d ms later", seenAt, after)
					}
				}
				assert.True(t, expired(seenAt+idleMillis+s.seenUnit), "forgotten a unit after the idle timeout")
				// Long after (no sweep meanwhile): a wrapped stamp may keep it longer, never
				// forget it early.
				for k := int64(1); k < 1<<17; k += 4093 {
					now := seenAt + k*s.seenUnit
					if now-seenAt < idleMillis {
						assert.False(t, expired(now), "seen at %d, %d ms later", seenAt, now-seenAt)
					}
				}
			}
		})
	}
}
