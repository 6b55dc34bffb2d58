package ordering

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// Without hold-back a sample is due when it is pushed: the lag grows while the backend does not
// answer, and falls to 0 once everything is delivered.
func TestSendLagWithoutHoldback(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(10_000)
	retry := fastRetry()
	retry.MaxElapsedTime = time.Minute
	h := newHarness(t, backend, Settings{MinShards: 2, MaxShards: 2, QueueSize: 20, Clock: clock, Retry: retry})
	assert.Zero(t, h.engine.SendLag(), "nothing waiting")
	assert.Equal(t, int64(20), h.gauge(t, queueCapacity))

	backend.FailNext(1 << 30)
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 9_000), series(1, 9_000)}))
	clock.Set(12_000)
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 11_000), series(1, 11_000)}))
	require.Eventually(t, func() bool { return backend.Requests() > 2 }, 5*time.Second, time.Millisecond)
	clock.Set(32_000)
	assert.Equal(t, 22*time.Second, h.engine.SendLag(), "from the first push, not the sample's timestamp, nor the second push")
	assert.InDelta(t, 22.0, h.floatGauge(t, sendLag), 1e-9)
	assert.Positive(t, h.gauge(t, queueSize), "the second batches wait behind the first")

	backend.FailNext(0)
	waitIdle(t, h.engine)
	assert.Zero(t, h.engine.SendLag())
	assert.Zero(t, h.floatGauge(t, sendLag))
	assert.Zero(t, h.gauge(t, queueSize))
	requireStoredInOrder(t, backend, 2, 9_000, 11_000)
	h.shutdown(t)
}

// With hold-back, a held sample counts only from its release time: holding is not lagging.
func TestSendLagWithHoldback(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(10_000)
	retry := fastRetry()
	retry.MaxElapsedTime = time.Minute
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, Holdback: true, Window: 5 * time.Second, MaxHeldSamples: 100, Clock: clock, ReleaseInterval: 100 * time.Millisecond, Retry: retry})
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 10_000)}))
	clock.Set(14_900)
	assert.Zero(t, h.engine.SendLag(), "held before its release time")
	assert.Equal(t, int64(1), h.engine.HeldSamples())

	backend.FailNext(1 << 30)
	clock.Set(15_100) // due at 15,100: the end of its 100 ms release bucket
	require.Eventually(t, func() bool { return backend.Requests() > 0 }, 5*time.Second, time.Millisecond)
	clock.Set(30_100)
	assert.Equal(t, 15*time.Second, h.engine.SendLag())

	// A late sample is due when it arrives, and the older due time still rules.
	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(1, 1_000)}))
	assert.Equal(t, 15*time.Second, h.engine.SendLag())

	backend.FailNext(0)
	waitIdle(t, h.engine)
	assert.Zero(t, h.engine.SendLag())
	h.shutdown(t)
}
