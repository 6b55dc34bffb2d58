package ordering

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
)

// countingClock is a fakeClock that counts how often it is read: every wake of the release loop
// reads it (ReleaseDue).
type countingClock struct {
	fakeClock
	reads atomic.Int64
}

func (c *countingClock) Now() time.Time { c.reads.Add(1); return c.fakeClock.Now() }

// readsDuring is how often the clock was read during d, in which the test does nothing.
func (c *countingClock) readsDuring(d time.Duration) int64 {
	before := c.reads.Load()
	time.Sleep(d) // what is measured is that nothing happens meanwhile
	return c.reads.Load() - before
}

// While nothing is held the release loop does not wake (a ticker would every release interval:
// 20 times here); the first point held wakes it, and is released once due.
func TestReleaseLoopSleepsWhileNothingHeld(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := &countingClock{fakeClock: fakeClock{now: time.UnixMilli(10_000)}}
	const interval = 10 * time.Millisecond
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, Holdback: true, Window: time.Second, MaxHeldSamples: 100,
		Clock: clock, ReleaseInterval: interval})
	defer h.shutdown(t)

	// The loop's first tick finds nothing held; it may read the clock once more before it sleeps.
	assert.LessOrEqual(t, clock.readsDuring(20*interval), int64(2), "no tick while nothing is held")

	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 10_000)}))
	clock.Set(11_100) // due
	require.Eventually(t, func() bool { return len(backend.Stored()[key(0)]) == 1 }, 5*time.Second, time.Millisecond,
		"the first point held woke the release")
	assert.Equal(t, []promtest.Sample{{T: 10_000, V: 10_000}}, backend.Stored()[key(0)])
	waitIdle(t, h.engine)

	time.Sleep(2 * interval) // the tick that finds nothing held left
	assert.LessOrEqual(t, clock.readsDuring(20*interval), int64(2), "asleep again once everything was released")
}

// While nothing is held, the release loop still forgets the idle series, as its ticks did.
func TestReleaseLoopForgetsIdleSeriesWhileNothingHeld(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(10_000)
	h := newHarness(t, backend, Settings{MinShards: 1, MaxShards: 1, Holdback: true, Window: time.Second, MaxHeldSamples: 100,
		Clock: clock, ReleaseInterval: 10 * time.Millisecond, SeriesIdleTimeout: 40 * time.Millisecond})
	defer h.shutdown(t)

	require.NoError(t, h.engine.Push(context.Background(), []sample.Series{series(0, 10_000), series(1, 10_000)}))
	assert.Equal(t, 2, h.engine.hold.Series())
	clock.Set(11_100)
	require.Eventually(t, func() bool { return h.engine.HeldSamples() == 0 }, 5*time.Second, time.Millisecond)
	clock.Set(20_000) // both idle for longer than the idle timeout
	require.Eventually(t, func() bool { return h.engine.hold.Series() == 0 }, 5*time.Second, time.Millisecond,
		"idle series forgotten without a push")
}
