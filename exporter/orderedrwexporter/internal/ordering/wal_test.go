package ordering

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"
)

const (
	walWrittenEntries   = "otelcol_exporter_ordered_rw_wal_written_entries"
	walWriteFailures    = "otelcol_exporter_ordered_rw_wal_write_failures"
	walReplayedSamples  = "otelcol_exporter_ordered_rw_wal_replayed_samples"
	walTruncatedEntries = "otelcol_exporter_ordered_rw_wal_truncated_entries"
	walEntriesGauge     = "otelcol_exporter_ordered_rw_wal_entries"
	walReadFailures     = "otelcol_exporter_ordered_rw_wal_read_failures"
)

// walSettings is a hold-back engine with a one-minute window on a WAL in dir; truncation runs
// only when a test calls TruncateWAL (or at shutdown).
func walSettings(dir string, clock Clock) Settings {
	return Settings{MinShards: 3, MaxShards: 3, Holdback: true, Window: time.Minute, MaxHeldSamples: 10_000, Clock: clock,
		ReleaseInterval: 50 * time.Millisecond,
		WAL:             &wal.Settings{Directory: dir, TruncateInterval: time.Hour, LagInterval: time.Hour}}
}

func batchOf(n int, ts ...int64) []sample.Series {
	out := make([]sample.Series, 0, n)
	for i := range n {
		out = append(out, series(i, ts...))
	}
	return out
}

// The batch is in the log when Push returns, and a batch the log cannot take is refused: the
// engine holds nothing of it.
func TestWALAppendsBeforeTheEngineTakesTheBatch(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(0)
	h := newHarness(t, backend, walSettings(t.TempDir(), clock))
	defer h.shutdown(t)

	require.NoError(t, h.engine.Push(context.Background(), batchOf(10, 1000, 2000)))
	assert.Equal(t, int64(20), h.engine.HeldSamples())
	assert.Equal(t, int64(1), h.gauge(t, walEntriesGauge))
	assert.Equal(t, int64(1), h.counter(t, walWrittenEntries))
	logged, samples, err := h.engine.log.(*wal.WAL).Read(1)
	require.NoError(t, err)
	assert.Equal(t, 20, samples)
	assert.Equal(t, batchOf(10, 1000, 2000), logged)

	// The log fails (as a full or lost disk would): the next batch is refused, nothing is held.
	require.NoError(t, h.engine.log.Close())
	err = h.engine.Push(context.Background(), batchOf(10, 3000))
	require.ErrorContains(t, err, "could not be written to the write-ahead log")
	assert.Equal(t, int64(20), h.engine.HeldSamples(), "the refused batch is not held")
	assert.Equal(t, int64(1), h.counter(t, walWriteFailures))
}

// Truncation goes up to the oldest entry with a sample not done: held samples and samples a
// failing backend has not taken keep their entries; delivered ones let theirs go.
func TestWALTruncatesOnlyUpToTheWatermark(t *testing.T) {
	backend := promtest.NewBackend(t)
	clock := newFakeClock(0)
	h := newHarness(t, backend, walSettings(t.TempDir(), clock))
	defer h.shutdown(t)
	e := h.engine
	ctx := context.Background()

	require.NoError(t, e.Push(ctx, batchOf(5, 70_000))) // entry 1: held until 130_000
	clock.Set(100_000)
	require.NoError(t, e.Push(ctx, []sample.Series{series(10, 30_000)})) // entry 2: late, delivered at once
	require.Eventually(t, func() bool { return backend.StoredCount() == 1 && e.Idle() }, 5*time.Second, time.Millisecond)
	removed, err := e.TruncateWAL()
	require.NoError(t, err)
	assert.Zero(t, removed, "entry 1 is held, so neither it nor entry 2 behind it may go")
	assert.Equal(t, int64(2), e.WALEntries())

	clock.Set(200_000) // entry 1 is due: released and delivered
	require.Eventually(t, func() bool { return backend.StoredCount() == 6 && e.Idle() }, 5*time.Second, time.Millisecond)
	removed, err = e.TruncateWAL()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), removed)
	assert.Zero(t, e.WALEntries())

	// A backend failing: the late batch of entry 3 is retried, and its entry stays meanwhile.
	backend.FailNext(1_000_000)
	require.NoError(t, e.Push(ctx, batchOf(5, 100_000))) // late: sent at once
	require.Eventually(t, func() bool { return backend.Requests() > 5 }, 5*time.Second, time.Millisecond)
	removed, err = e.TruncateWAL()
	require.NoError(t, err)
	assert.Zero(t, removed, "samples stuck in retries keep their entry")
	assert.Equal(t, int64(1), e.WALEntries())
	backend.FailNext(0)
	require.Eventually(t, func() bool { return backend.StoredCount() == 11 && e.Idle() }, 5*time.Second, time.Millisecond)
	removed, err = e.TruncateWAL()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), removed)
	assert.Equal(t, int64(3), h.counter(t, walTruncatedEntries))
	requireStoredInOrder(t, backend, 5, 70_000, 100_000)
}

// A shutdown with a WAL does not wait for the window: held samples stay in the log. A new engine
// on the same directory replays them, holds them again until their release time, and delivers
// everything in order, nothing twice, nothing rejected.
func TestWALShutdownKeepsHeldSamplesAndReplayDeliversThem(t *testing.T) {
	backend := promtest.NewBackend(t)
	dir := t.TempDir()
	clock := newFakeClock(0)
	ctx := context.Background()

	first := newHarness(t, backend, walSettings(dir, clock))
	require.NoError(t, first.engine.Push(ctx, batchOf(20, 1000)))
	clock.Set(61_100)
	first.engine.ReleaseDue() // 1000 is delivered
	require.Eventually(t, func() bool { return backend.StoredCount() == 20 && first.engine.Idle() }, 5*time.Second, time.Millisecond)
	require.NoError(t, first.engine.Push(ctx, batchOf(20, 4000, 5000)))
	require.NoError(t, first.engine.Push(ctx, batchOf(20, 2000, 3000))) // older samples arrive second
	began := time.Now()
	first.shutdown(t)
	assert.Less(t, time.Since(began), 5*time.Second, "no wait for the one-minute window")
	assert.Equal(t, 20, backend.StoredCount(), "held samples were kept, not flushed")
	assert.Zero(t, first.counter(t, droppedSamples), "kept samples are not counted undelivered")
	assert.Equal(t, int64(1), first.counter(t, walTruncatedEntries), "the delivered entry was truncated at shutdown")

	second := newHarness(t, backend, walSettings(dir, clock))
	require.Eventually(t, func() bool { return second.counter(t, walReplayedSamples) == 80 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(80), second.engine.HeldSamples(), "replayed samples are held again until their release time")
	assert.Equal(t, 20, backend.StoredCount())

	clock.Set(66_100) // every replayed sample is due
	require.Eventually(t, func() bool { return backend.StoredCount() == 100 && second.engine.Idle() }, 5*time.Second, time.Millisecond)
	requireStoredInOrder(t, backend, 20, 1000, 2000, 3000, 4000, 5000)
	assert.Zero(t, backend.Rejected())
	second.shutdown(t)

	// Everything was delivered: the log is empty after the second shutdown.
	third := newHarness(t, backend, walSettings(dir, clock))
	assert.Zero(t, third.engine.WALEntries())
	third.shutdown(t)
	assert.Zero(t, third.counter(t, walReplayedSamples))
}

// Entries delivered but not yet truncated are sent again after a restart: an identical resend
// of a series' newest sample is accepted and stored once; a resent sample older than one stored
// is rejected and counted out_of_order, and only that sample (the request is split).
func TestWALReplayResendsEntriesNotTruncated(t *testing.T) {
	backend := promtest.NewBackend(t)
	dir := t.TempDir()
	clock := newFakeClock(200_000)
	ctx := context.Background()

	first := newHarness(t, backend, walSettings(dir, clock))
	require.NoError(t, first.engine.Push(ctx, batchOf(3, 190_000))) // entry 1: held
	// Late, so delivered at once, but behind entry 1 in the log.
	require.NoError(t, first.engine.Push(ctx, []sample.Series{series(10, 100_000)}))
	require.NoError(t, first.engine.Push(ctx, []sample.Series{series(11, 100_000)}))
	require.NoError(t, first.engine.Push(ctx, []sample.Series{series(11, 110_000)}))
	require.Eventually(t, func() bool { return backend.StoredCount() == 3 && first.engine.Idle() }, 5*time.Second, time.Millisecond)
	first.shutdown(t)

	second := newHarness(t, backend, walSettings(dir, clock))
	require.Eventually(t, func() bool { return second.counter(t, walReplayedSamples) == 6 && second.engine.Idle() }, 5*time.Second, time.Millisecond)
	clock.Set(251_000)
	require.Eventually(t, func() bool { return backend.StoredCount() == 6 && second.engine.Idle() }, 5*time.Second, time.Millisecond)
	second.shutdown(t)
	requireStoredInOrder(t, backend, 3, 190_000)
	stored := backend.Stored()
	assert.Equal(t, []promtest.Sample{{T: 100_000, V: 100_000}}, stored[key(10)], "identical resend stored once")
	assert.Equal(t, []promtest.Sample{{T: 100_000, V: 100_000}, {T: 110_000, V: 110_000}}, stored[key(11)])
	assert.Equal(t, int64(1), second.counter(t, droppedSamples, reason(telemetry.ReasonOutOfOrder)),
		"series 11 at 100_000 resent after 110_000 was stored")
}

// A directory that cannot hold the log stops the start with a clear error. A last segment whose
// first entry's length is damaged does not: it is cut at its last whole entry (none), as a torn
// tail is, and the loss counted.
func TestWALUnusableDirectory(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	tset := tel.NewTelemetrySettings()
	tset.Logger = zap.NewNop()
	backend := promtest.NewBackend(t)
	poster := &transport.HTTPPoster{Client: backend.Server.Client(), URL: backend.URL()}

	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, []byte("x"), 0o600))
	_, err := NewEngine(walSettings(notADir, nil), tset, "ordered_rw", poster)
	require.ErrorContains(t, err, "cannot open the write-ahead log in \""+notADir+"\"")

	corrupt := t.TempDir()
	// A segment whose first entry length is not a valid varint.
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, "00000000000000000001"), []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), 0o600))
	e, err := NewEngine(walSettings(corrupt, nil), tset, "ordered_rw", poster)
	require.NoError(t, err)
	h := &harness{engine: e, tel: tel, backend: backend}
	assert.Equal(t, int64(1), h.counter(t, walReadFailures))
	assert.Zero(t, h.gauge(t, walEntriesGauge))
	require.NoError(t, e.Shutdown(context.Background()))
}

// A crash in the middle of a write leaves a torn last entry: the start cuts it off, counts it,
// and replays the whole entries before it.
func TestWALTornTailIsCutAtTheLastWholeEntry(t *testing.T) {
	backend := promtest.NewBackend(t)
	dir := t.TempDir()
	clock := newFakeClock(0)
	first := newHarness(t, backend, walSettings(dir, clock))
	require.NoError(t, first.engine.Push(context.Background(), batchOf(10, 1000)))
	require.NoError(t, first.engine.Push(context.Background(), batchOf(10, 2000)))
	first.shutdown(t)
	segment := filepath.Join(dir, "00000000000000000001")
	info, err := os.Stat(segment)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(segment, info.Size()-3))

	second := newHarness(t, backend, walSettings(dir, clock))
	defer second.shutdown(t)
	assert.Equal(t, int64(1), second.counter(t, walReadFailures), "the torn entry is counted")
	require.NoError(t, second.engine.Push(context.Background(), batchOf(10, 3000)), "pushes are taken after the replay")
	assert.Equal(t, int64(10), second.counter(t, walReplayedSamples), "the whole entry is replayed")
	assert.Equal(t, int64(20), second.engine.HeldSamples())
}

// One log, one writer: a second engine on a directory in use is refused until the first closes it.
func TestWALDirectoryIsLocked(t *testing.T) {
	backend := promtest.NewBackend(t)
	dir := t.TempDir()
	first := newHarness(t, backend, walSettings(dir, newFakeClock(0)))
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	poster := &transport.HTTPPoster{Client: backend.Server.Client(), URL: backend.URL()}
	_, err := NewEngine(walSettings(dir, nil), tel.NewTelemetrySettings(), "ordered_rw", poster)
	require.ErrorContains(t, err, "the directory is in use by another exporter or process")
	first.shutdown(t)
	second := newHarness(t, backend, walSettings(dir, newFakeClock(0)))
	second.shutdown(t)
}

// New pushes wait for the replay, so that they cannot overtake the replayed samples.
func TestWALPushWaitsForReplay(t *testing.T) {
	backend := promtest.NewBackend(t)
	dir := t.TempDir()
	clock := newFakeClock(200_000)
	first := newHarness(t, backend, walSettings(dir, clock))
	require.NoError(t, first.engine.Push(context.Background(), batchOf(5, 190_000)))
	first.shutdown(t)

	second := newHarness(t, backend, walSettings(dir, clock))
	defer second.shutdown(t)
	require.NoError(t, second.engine.Push(context.Background(), batchOf(5, 195_000)))
	assert.Equal(t, int64(5), second.counter(t, walReplayedSamples), "replayed before the push was taken")
	assert.Equal(t, int64(10), second.engine.HeldSamples())
}
