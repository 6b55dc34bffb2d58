package ordering

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

// Guarantee 6: at shutdown, held samples keep their release schedule: pushes stop at once, each
// held sample leaves at its timestamp plus the window, in order, and Shutdown returns once all
// of them are delivered.
func TestShutdownKeepsReleaseSchedule(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(0)
	h := newHarness(t, backend, Settings{MinShards: 3, MaxShards: 3, Holdback: true, Window: time.Minute, MaxHeldSamples: 1000, Clock: clock, ReleaseInterval: 50 * time.Millisecond})
	var late, early []sample.Series
	for i := range 20 {
		late = append(late, series(i, 3000, 4000, 5000))
		early = append(early, series(i, 1000, 2000))
	}
	require.NoError(t, h.engine.Push(context.Background(), late))
	require.NoError(t, h.engine.Push(context.Background(), early)) // older samples arrive second

	done := make(chan error, 1)
	go func() { done <- h.engine.Shutdown(context.Background()) }()
	require.Eventually(t, func() bool {
		return h.engine.Push(context.Background(), nil) == ErrClosed
	}, 5*time.Second, time.Millisecond, "pushes stop as the shutdown begins")
	assert.Never(t, func() bool { return backend.Requests() > 0 }, 200*time.Millisecond, 10*time.Millisecond,
		"nothing is flushed ahead of its release time")

	clock.Set(62_100) // 1000 and 2000 are due
	require.Eventually(t, func() bool { return backend.StoredCount() == 40 }, 5*time.Second, time.Millisecond)
	requireStoredInOrder(t, backend, 20, 1000, 2000)
	select {
	case err := <-done:
		t.Fatalf("shutdown returned while samples were held: %v", err)
	default:
	}

	clock.Set(65_100) // the rest is due
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not return once everything held was released and sent")
	}
	requireStoredInOrder(t, backend, 20, 1000, 2000, 3000, 4000, 5000)
	assert.Zero(t, backend.Rejected())
	assert.Equal(t, int64(100), h.counter(t, releasedSamples, reason(telemetry.ReleaseOnTime)))
	assert.Zero(t, h.counter(t, releasedSamples, reason(telemetry.ReleaseShutdown)))
	assert.NoError(t, h.engine.Shutdown(context.Background()), "shutdown twice")
}

// A shutdown deadline earlier than the release times: what is held is released ahead of time,
// early enough before the deadline to be sent, and counted as released at shutdown.
func TestShutdownDeadlineReleasesEarly(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(0) // frozen: nothing becomes due by itself
	h := newHarness(t, backend, Settings{MinShards: 2, MaxShards: 2, Holdback: true, Window: time.Minute, MaxHeldSamples: 1000, Clock: clock})
	var batch []sample.Series
	for i := range 10 {
		batch = append(batch, series(i, 1000, 2000))
	}
	require.NoError(t, h.engine.Push(context.Background(), batch))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	began := time.Now()
	require.NoError(t, h.engine.Shutdown(ctx))
	assert.Less(t, time.Since(began), time.Second, "returned before the deadline")
	requireStoredInOrder(t, backend, 10, 1000, 2000)
	assert.Equal(t, int64(20), h.counter(t, releasedSamples, reason(telemetry.ReleaseShutdown)))
	assert.Equal(t, int64(20), h.counter(t, sentSamples))
}

// Without a deadline, a shutdown waits at most about a window: a sample stamped in the future
// is not waited for.
func TestShutdownBoundedByWindow(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(0)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, Holdback: true, Window: 300 * time.Millisecond, MaxHeldSamples: 1000, Clock: clock, ReleaseInterval: 20 * time.Millisecond})
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 3_600_000)})) // an hour ahead
	began := time.Now()
	require.NoError(t, h.engine.Shutdown(context.Background()))
	assert.Less(t, time.Since(began), 2*time.Second)
	requireStoredInOrder(t, backend, 1, 3_600_000)
	assert.Equal(t, int64(1), h.counter(t, releasedSamples, reason(telemetry.ReleaseShutdown)))
}

// The case the schedule is kept for: gateway B shuts down holding a newer sample of each series
// while gateway A still holds an older one that arrived late. B must not send its sample before A
// releases the older one, or the backend rejects A's as out of order. With a deadline too short
// to wait, B releases early and the loss shows: the test has teeth.
func TestShutdownKeepsOrderAcrossGateways(t *testing.T) {
	for _, tc := range []struct {
		name         string
		deadline     time.Duration // 0: none
		wantRejected bool
	}{
		{name: "on_schedule"},
		{name: "deadline_too_short", deadline: 200 * time.Millisecond, wantRejected: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := promtest.NewBackend(t)
			clock := newFakeClock(10_000)
			set := Settings{MinShards: 2, MaxShards: 2, Holdback: true, Window: 3 * time.Second, MaxHeldSamples: 1000, Clock: clock, ReleaseInterval: 100 * time.Millisecond}
			gatewayA, gatewayB := newHarness(t, backend, set), newHarness(t, backend, set)
			const numSeries = 50
			batch := func(ts int64) []sample.Series {
				var out []sample.Series
				for i := range numSeries {
					out = append(out, series(i, ts))
				}
				return out
			}

			clock.Set(11_100)
			require.NoError(t, gatewayB.engine.Push(context.Background(), batch(11_000)))
			clock.Set(11_200)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.deadline > 0 {
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
			}
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- gatewayB.engine.Shutdown(ctx) }()
			if tc.wantRejected {
				require.Eventually(t, func() bool { return backend.StoredCount() == numSeries }, 5*time.Second, time.Millisecond)
			}

			clock.Set(12_900) // the older sample reaches A late, within the window
			require.NoError(t, gatewayA.engine.Push(context.Background(), batch(10_000)))
			clock.Set(13_100)
			gatewayA.engine.ReleaseDue()
			waitIdle(t, gatewayA.engine)
			clock.Set(14_100)
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("gateway B did not finish its shutdown")
			}

			if tc.wantRejected {
				assert.Positive(t, backend.Rejected())
				requireStoredInOrder(t, backend, numSeries, 11_000)
				assert.Equal(t, int64(numSeries), gatewayA.counter(t, droppedSamples, reason(telemetry.ReasonOutOfOrder)))
			} else {
				assert.Zero(t, backend.Rejected())
				requireStoredInOrder(t, backend, numSeries, 10_000, 11_000)
				assert.Equal(t, int64(numSeries), gatewayB.counter(t, releasedSamples, reason(telemetry.ReleaseOnTime)))
			}
			gatewayA.shutdown(t)
		})
	}
}

// A request first sent during the shutdown (here a held sample released by it) is retried like
// any other: one 500 does not lose it. The collector's shutdown has no deadline; ShutdownTimeout
// gives it one, so retries go on.
func TestShutdownRetriesARequestFirstSentDuringIt(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(0) // frozen: the sample is released by the shutdown, not before
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, Holdback: true, Window: 300 * time.Millisecond, MaxHeldSamples: 1000,
		Clock: clock, ReleaseInterval: 20 * time.Millisecond, ShutdownTimeout: 10 * time.Second})
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 1000)}))
	assert.Zero(t, backend.Requests(), "held")
	backend.Script(promtest.Answer{Status: 500, Body: "internal error"})
	require.NoError(t, h.engine.Shutdown(context.Background()))
	requireStoredInOrder(t, backend, 1, 1000)
	assert.Equal(t, 2, backend.Requests(), "the 500 and its retry")
	assert.Zero(t, h.counter(t, droppedSamples))
}

// ShutdownTimeout bounds a shutdown without deadline while the backend stays down: retries stop
// at the timeout and the loss is counted with reason shutdown and reported.
func TestShutdownTimeoutBoundsRetries(t *testing.T) {
	backend := promtest.NewBackend(t)
	backend.AnswerAlways(&promtest.Answer{Status: 503, Body: "down"})
	retry := fastRetry()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 10*time.Millisecond, 10*time.Millisecond, time.Hour
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, Retry: retry, ShutdownTimeout: 500 * time.Millisecond})
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 1000), series(1, 1000)}))
	require.Eventually(t, func() bool { return backend.Requests() > 1 }, 5*time.Second, time.Millisecond)
	began := time.Now()
	err := h.engine.Shutdown(context.Background())
	require.ErrorContains(t, err, "2 samples could not be delivered")
	elapsed := time.Since(began)
	assert.GreaterOrEqual(t, elapsed, 400*time.Millisecond, "retried until the timeout")
	assert.Less(t, elapsed, 3*time.Second)
	assert.Equal(t, int64(2), h.counter(t, droppedSamples, reason(telemetry.ReasonShutdown)))
}
