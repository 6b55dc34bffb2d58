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
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"
)

// year2200 is a timestamp a careless client's clock could send: held, it would stay until then.
const year2200 = int64(7_258_118_400_000)

// Samples stamped more than max_future ahead are dropped and counted, not held: they neither pin
// the write-ahead log nor fill max_held_samples, so no real sample is released early because of
// them. Samples within the bound are held as usual.
func TestFutureSamplesAreNeitherHeldNorPinTheWAL(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(100_000)
	set := walSettings(t.TempDir(), clock)
	set.MaxHeldSamples = 100
	set.MaxFuture = time.Minute
	h := newHarness(t, backend, set)
	defer h.shutdown(t)
	ctx := context.Background()

	// More future samples than max_held_samples, before and among the real ones.
	require.NoError(t, h.engine.Push(ctx, batchOf(150, year2200)))
	mixed := batchOf(50, 100_000)
	mixed = append(mixed, series(60, 100_000, 160_000, year2200))
	require.NoError(t, h.engine.Push(ctx, mixed))
	for range 3 {
		require.NoError(t, h.engine.Push(ctx, []sample.Series{series(70, year2200)}))
	}
	assert.Equal(t, int64(150+1+3), h.counter(t, droppedSamples, reason(telemetry.ReasonTooFarInFuture)))
	assert.Equal(t, int64(52), h.engine.HeldSamples(), "the real samples, up to now + max_future, are held")
	assert.Zero(t, h.counter(t, releasedSamples, reason(telemetry.ReleaseEarly)), "no early release")

	clock.Set(160_100) // 100_000 + window
	h.engine.ReleaseDue()
	waitIdle(t, h.engine)
	assert.Len(t, backend.Stored(), 51)
	assert.Equal(t, int64(51), h.counter(t, releasedSamples, reason(telemetry.ReleaseOnTime)))
	assert.Zero(t, h.counter(t, releasedSamples, reason(telemetry.ReleaseEarly)))

	// The log is truncated from its front: entry 1 (future samples only) is gone; entry 2 holds
	// the sample held until 220_000, and keeps the three after it.
	w := h.engine.log.(*wal.WAL)
	_, err := w.Truncate()
	require.NoError(t, err)
	assert.Equal(t, int64(4), h.gauge(t, walEntriesGauge), "entries 2 to 5")
	clock.Set(220_100)
	h.engine.ReleaseDue()
	waitIdle(t, h.engine)
	_, err = w.Truncate()
	require.NoError(t, err)
	assert.Zero(t, h.gauge(t, walEntriesGauge), "nothing pins the log")
	assert.Equal(t, []promtest.Sample{{T: 100_000, V: 100_000}, {T: 160_000, V: 160_000}}, backend.Stored()[key(60)])
	assert.NotContains(t, backend.Stored(), key(70))
}
