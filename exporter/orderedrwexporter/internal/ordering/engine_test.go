package ordering

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

const (
	droppedSamples  = "otelcol_exporter_ordered_rw_dropped_samples"
	releasedSamples = "otelcol_exporter_ordered_rw_released_samples"
	sentSamples     = "otelcol_exporter_ordered_rw_sent_samples"
	requestSplits   = "otelcol_exporter_ordered_rw_request_splits"
	heldSamples     = "otelcol_exporter_ordered_rw_held_samples"
	trackedSeries   = "otelcol_exporter_ordered_rw_tracked_series"
	// heldSeries is the deprecated name of trackedSeries, kept one release with the same value.
	heldSeries    = "otelcol_exporter_ordered_rw_held_series"
	sendLag       = "otelcol_exporter_ordered_rw_send_lag"
	queueSize     = "otelcol_exporter_ordered_rw_queue_size"
	queueCapacity = "otelcol_exporter_ordered_rw_queue_capacity"
)

func waitIdle(t *testing.T, engines ...*Engine) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, e := range engines {
			if !e.Idle() {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
}

// Guarantee 1: per series, samples leave in increasing order across batches, retries (503
// bursts, connection resets), slow answers and parallel shards.
func TestInOrderAcrossBatchesRetriesAndShards(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.SetDelay(2 * time.Millisecond)
	h := newHarness(t, backend, Settings{MinShards: 4, MaxShards: 4})
	const numSeries, batches = 200, 20
	backend.FailNext(5)
	for b := range batches {
		if b == 10 {
			backend.ResetNext(3)
		}
		var batch []sample.Series
		for i := range numSeries {
			batch = append(batch, series(i, int64(b+1)*1000))
		}
		require.NoError(t, h.engine.Push(context.Background(), batch))
	}
	waitIdle(t, h.engine)
	want := make([]int64, batches)
	for b := range batches {
		want[b] = int64(b+1) * 1000
	}
	requireStoredInOrder(t, backend, numSeries, want...)
	assert.Zero(t, backend.Rejected())
	assert.Greater(t, backend.MaxInFlight(), 1, "shards send in parallel")
	assert.Equal(t, int64(numSeries*batches), h.counter(t, sentSamples))
	assert.Equal(t, int64(numSeries), h.gauge(t, trackedSeries))
	assert.Equal(t, int64(numSeries), h.gauge(t, heldSeries), "the deprecated name has the same value")
	h.shutdown(t)
}

// Guarantee 2: a sample not newer than the last sent one of its series is removed before the
// request is built, and counted; it costs nothing else.
func TestStaleSampleIsNeverSent(t *testing.T) {
	backend := promtest.NewBackend(t)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1})
	var first []sample.Series
	for i := range 10 {
		first = append(first, series(i, 1000, 2000))
	}
	require.NoError(t, h.engine.Push(context.Background(), first))
	waitIdle(t, h.engine)

	second := []sample.Series{series(0, 1500, 3000), series(1, 2000, 3000)} // 1500 older, 2000 equal
	for i := 2; i < 10; i++ {
		second = append(second, series(i, 3000))
	}
	require.NoError(t, h.engine.Push(context.Background(), second))
	waitIdle(t, h.engine)

	requireStoredInOrder(t, backend, 10, 1000, 2000, 3000)
	assert.Zero(t, backend.Rejected(), "the stale samples never reached the backend")
	assert.Equal(t, int64(2), h.counter(t, droppedSamples, reason(telemetry.ReasonStale)))
	h.shutdown(t)
}

// Guarantee 5: when the backend rejects a request, only the rejected sample is lost.
func TestOneRejectedSampleCostsOneSample(t *testing.T) {
	backend := promtest.NewBackend(t)
	// Another gateway already wrote series 0 at 5000.
	other := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1})
	require.NoError(t, other.engine.Push(context.Background(), []sample.Series{series(0, 5000)}))
	waitIdle(t, other.engine)

	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1})
	var batch []sample.Series
	for i := range 100 {
		batch = append(batch, series(i, 4000))
	}
	require.NoError(t, h.engine.Push(context.Background(), batch))
	waitIdle(t, h.engine)

	stored := backend.Stored()
	for i := 1; i < 100; i++ {
		require.Len(t, stored[key(i)], 1, "series %d", i)
	}
	require.Equal(t, []promtest.Sample{{T: 5000, V: 5000}}, stored[key(0)])
	assert.Equal(t, int64(99), h.counter(t, sentSamples))
	assert.Equal(t, int64(1), h.counter(t, droppedSamples, reason(telemetry.ReasonOutOfOrder)))
	splits := h.counter(t, requestSplits)
	assert.Positive(t, splits)
	assert.LessOrEqual(t, splits, int64(7), "one bad sample among 100 costs at most log2(100) splits")
	h.shutdown(t)
	other.shutdown(t)
}

// Guarantee 3: two gateways, each receiving alternate samples of the same series with different
// delays, emit them in one global order when they hold each sample until timestamp + window.
func TestHoldbackTwoGatewaysNoCoordination(t *testing.T) {
	for _, tc := range []struct {
		name         string
		window       time.Duration
		wantRejected bool
	}{
		{name: "window_3s", window: 3 * time.Second},
		// Without a window long enough the same traffic is rejected: the test has teeth.
		{name: "window_1ms", window: time.Millisecond, wantRejected: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := promtest.NewBackend(t)
			clock := newFakeClock(0)
			set := Settings{MinShards: 2, MaxShards: 2, Holdback: true, Window: tc.window, MaxHeldSamples: 1_000_000, Clock: clock, ReleaseInterval: 100 * time.Millisecond}
			gatewayA, gatewayB := newHarness(t, backend, set), newHarness(t, backend, set)
			delays := []int64{200, 1900} // gateway A is fast, gateway B slow
			const numSeries, points, start = 50, 30, int64(10_000)
			type arrival struct {
				at, ts int64
				gw     int
			}
			var arrivals []arrival
			for p := range points {
				ts := start + int64(p)*1000
				gw := p % 2
				arrivals = append(arrivals, arrival{at: ts + delays[gw], ts: ts, gw: gw})
			}
			engines := []*Engine{gatewayA.engine, gatewayB.engine}
			for now := start; now <= start+points*1000+5000; now += 100 {
				clock.Set(now)
				for _, a := range arrivals {
					if a.at > now-100 && a.at <= now {
						var batch []sample.Series
						for i := range numSeries {
							batch = append(batch, series(i, a.ts))
						}
						require.NoError(t, engines[a.gw].Push(context.Background(), batch))
					}
				}
				for _, e := range engines {
					e.ReleaseDue()
				}
				waitIdle(t, engines...)
			}
			if tc.wantRejected {
				assert.Positive(t, backend.Rejected())
				assert.Less(t, backend.StoredCount(), numSeries*points)
			} else {
				assert.Zero(t, backend.Rejected())
				want := make([]int64, points)
				for p := range points {
					want[p] = start + int64(p)*1000
				}
				requireStoredInOrder(t, backend, numSeries, want...)
				assert.Equal(t, int64(numSeries*points/2), gatewayA.counter(t, releasedSamples, reason(telemetry.ReleaseOnTime)))
			}
			gatewayA.shutdown(t)
			gatewayB.shutdown(t)
		})
	}
}

// A sample later than its window goes out at once if newer than its series' last sent sample,
// in a request apart from on-time ones; otherwise it is dropped and counted.
func TestHoldbackLateSamples(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(10_000)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, Holdback: true, Window: time.Second, MaxHeldSamples: 100, Clock: clock, ReleaseInterval: 100 * time.Millisecond})

	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 9_500), series(1, 8_000)}))
	waitIdle(t, h.engine)
	assert.Equal(t, []promtest.Sample{{T: 8_000, V: 8_000}}, backend.Stored()[key(1)], "late sample sent at once")
	assert.Empty(t, backend.Stored()[key(0)], "on-time sample still held")
	assert.Equal(t, int64(1), h.gauge(t, heldSamples))
	assert.Equal(t, 1, backend.Requests())

	clock.Set(10_600)
	h.engine.ReleaseDue()
	waitIdle(t, h.engine)
	assert.Equal(t, []promtest.Sample{{T: 9_500, V: 9_500}}, backend.Stored()[key(0)])

	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 9_000)}))
	waitIdle(t, h.engine)
	assert.Equal(t, int64(1), h.counter(t, droppedSamples, reason(telemetry.ReasonStale)))
	assert.Equal(t, int64(1), h.counter(t, releasedSamples, reason(telemetry.ReleaseOnTime)))
	assert.Equal(t, int64(2), h.counter(t, releasedSamples, reason(telemetry.ReleaseLate)))
	assert.Zero(t, backend.Rejected())
	h.shutdown(t)
}

// Held data is bounded: beyond max_held_samples the oldest are released early, in order.
func TestHoldbackBound(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(20_000)
	h := newHarness(t, backend, Settings{MinShards: 2, MaxShards: 2, Holdback: true, Window: 5 * time.Second, MaxHeldSamples: 10, Clock: clock, ReleaseInterval: 50 * time.Millisecond})
	for i := range 30 {
		require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 20_000+int64(i)*100)}))
		require.LessOrEqual(t, h.engine.HeldSamples(), int64(10))
	}
	waitIdle(t, h.engine)
	assert.Equal(t, int64(20), h.counter(t, releasedSamples, reason(telemetry.ReleaseEarly)))
	assert.Equal(t, int64(10), h.gauge(t, heldSamples))
	clock.Set(30_000) // the rest is due: the shutdown releases it on time
	h.shutdown(t)
	want := make([]int64, 30)
	for i := range want {
		want[i] = 20_000 + int64(i)*100
	}
	requireStoredInOrder(t, backend, 1, want...)
	assert.Equal(t, int64(10), h.counter(t, releasedSamples, reason(telemetry.ReleaseOnTime)))
	assert.Zero(t, h.counter(t, releasedSamples, reason(telemetry.ReleaseShutdown)))
}

// Guarantee 6: what cannot be delivered before the shutdown deadline is counted and reported.
func TestShutdownReportsUndelivered(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.FailNext(1 << 30)
	clock := newFakeClock(0)
	h := newHarness(t, backend, Settings{MinShards: 2, MaxShards: 2, Holdback: true, Window: time.Minute, MaxHeldSamples: 1000, Clock: clock})
	var batch []sample.Series
	for i := range 10 {
		batch = append(batch, series(i, 1000, 2000))
	}
	require.NoError(t, h.engine.Push(context.Background(), batch))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := h.engine.Shutdown(ctx)
	require.ErrorContains(t, err, "20 samples could not be delivered")
	assert.Equal(t, int64(20), h.counter(t, droppedSamples, reason(telemetry.ReasonShutdown)))
}

// Stamp-free, hold-free mode still never reorders a retried request behind a newer one.
func TestRetryBeforeAnythingNewer(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.FailNext(4)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1})
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 1000)}))
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 2000)}))
	waitIdle(t, h.engine)
	requireStoredInOrder(t, backend, 1, 1000, 2000)
	assert.Equal(t, 6, backend.Requests())
	h.shutdown(t)
}

// Series state is bounded: idle series are forgotten.
func TestIdleSeriesExpire(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(0)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, Clock: clock, SeriesIdleTimeout: time.Second})
	var batch []sample.Series
	for i := range 5 {
		batch = append(batch, series(i, 1000))
	}
	require.NoError(t, h.engine.Push(context.Background(), batch))
	waitIdle(t, h.engine)
	assert.Equal(t, int64(5), h.engine.TrackedSeries())
	clock.Set(2000)
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(5, 2000)}))
	waitIdle(t, h.engine)
	assert.Equal(t, int64(1), h.engine.TrackedSeries())
	h.shutdown(t)
}

// A shutdown without deadline returns while the backend is down and pushes are blocked on a full
// queue: retries stop, each request is tried once more, and the loss is reported.
func TestShutdownWithoutDeadlineDoesNotHang(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.FailNext(1 << 30)
	retry := fastRetry()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 10*time.Millisecond, 10*time.Millisecond, time.Hour
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, QueueSize: 1, Retry: retry})
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 1000)})) // the shard retries it
	require.Eventually(t, func() bool { return backend.Requests() > 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 2000)})) // fills the queue
	blocked := make(chan error, 1)
	go func() { blocked <- h.engine.Push(context.Background(), []sample.Series{series(0, 3000)}) }()
	require.Eventually(t, func() bool { return h.engine.acct.batches.Load() == 3 }, 5*time.Second, time.Millisecond, "third push waits for room")

	err := h.engine.Shutdown(context.Background())
	require.ErrorContains(t, err, "3 samples could not be delivered")
	require.NoError(t, <-blocked, "the blocked push was queued once the shard gave up")
	assert.Equal(t, int64(3), h.counter(t, droppedSamples, reason(telemetry.ReasonShutdown)))
}

// Pushes from several goroutines while the release loop runs on the system clock: series come
// and go, so the refs of released series are freed and reused while other pushes add theirs.
// Every sample must arrive once and in order (run with -race).
func TestHoldbackConcurrentPushesAndReleases(t *testing.T) {
	backend := promtest.NewBackend(t)
	// The window is above the delay a push may see on a loaded machine (-race, other packages'
	// tests): with 20 ms, a push stalled past its samples' window sent them late, ahead of the
	// previous, due but not yet released sample of the series, which was then dropped stale
	// (seen on main as well). The pushes last several windows, so releases still interleave.
	h := newHarness(t, backend, Settings{MinShards: 3, MaxShards: 3, Holdback: true, Window: 100 * time.Millisecond,
		MaxHeldSamples: 1_000_000, ReleaseInterval: 5 * time.Millisecond})
	const pushers, rounds, perRound, rotation = 4, 60, 20, 3
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// Each pusher owns its series; a series is pushed every `rotation` rounds,
				// at a timestamp from the wall clock that grows with the round.
				batch := make([]sample.Series, 0, perRound)
				for i := range perRound {
					id := p*1000 + (r%rotation)*perRound + i
					batch = append(batch, series(id, time.Now().UnixMilli()))
				}
				assert.NoError(t, h.engine.Push(context.Background(), batch))
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	assert.Positive(t, h.counter(t, releasedSamples, reason(telemetry.ReleaseOnTime)), "releases ran while pushes did")
	h.shutdown(t)
	assert.Zero(t, backend.Rejected())
	assert.Zero(t, h.counter(t, droppedSamples), "stale: %d", h.counter(t, droppedSamples, reason(telemetry.ReasonStale)))
	stored := backend.Stored()
	for p := range pushers {
		for id := p * 1000; id < p*1000+rotation*perRound; id++ {
			got := stored[key(id)]
			require.Len(t, got, rounds/rotation, "series %d", id)
			for k := 1; k < len(got); k++ {
				require.Less(t, got[k-1].T, got[k].T, "series %d", id)
			}
		}
	}
}

// Native histograms are held and released in order like float samples.
func TestHoldbackHistograms(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(10_000)
	h := newHarness(t, backend, Settings{MinShards: 2, MaxShards: 2, Holdback: true, Window: time.Second,
		MaxHeldSamples: 100, Clock: clock, ReleaseInterval: 100 * time.Millisecond})
	hist := func(i int, ts ...int64) sample.Series {
		s := series(i)
		for _, t := range ts {
			s.Points = append(s.Points, sample.Point{T: t, H: &prompb.Histogram{Timestamp: t, Count: &prompb.Histogram_CountInt{CountInt: uint64(t)}}})
		}
		return s
	}
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{hist(0, 10_200), series(1, 10_100)}))
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{hist(0, 10_000), series(1, 10_300)}))
	assert.Equal(t, int64(4), h.engine.HeldSamples())
	clock.Set(11_500)
	h.engine.ReleaseDue()
	waitIdle(t, h.engine)
	assert.Zero(t, h.engine.HeldSamples())
	requireStoredInOrder(t, backend, 1, 10_000, 10_200)
	assert.Equal(t, []promtest.Sample{{T: 10_100, V: 10_100}, {T: 10_300, V: 10_300}}, backend.Stored()[key(1)])
	assert.Zero(t, backend.Rejected())
	h.shutdown(t)
}
