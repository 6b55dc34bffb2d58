package orderedrwexporter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
)

func walConfig(endpoint, dir string) *Config {
	cfg := testConfig(endpoint)
	cfg.Ordering.Holdback.Window = time.Minute
	cfg.WAL = configoptional.Some(prometheusremotewriteexporter.WALConfig{Directory: dir})
	return cfg
}

// Through the exporter: what a stopped exporter held is delivered by the next one on the same
// `wal.directory`, translated labels (target_info included) and all.
func TestWALRestartThroughTheExporter(t *testing.T) {
	backend := promtest.NewBackend(t)
	dir := t.TempDir()
	clock := &fakeClock{now: time.UnixMilli(100_000)}
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "amp")

	first, err := newExporter(walConfig(backend.URL(), dir), set)
	require.NoError(t, err)
	first.clock = clock
	require.NoError(t, first.start(context.Background(), componenttest.NewNopHost()))
	for step := range 3 {
		require.NoError(t, first.pushMetrics(context.Background(), gauges(10, time.UnixMilli(100_000+int64(step)*1000), true)))
	}
	require.Equal(t, int64(33), first.engine.HeldSamples(), "10 series and target_info, 3 steps")
	require.NoError(t, first.shutdown(context.Background()))
	assert.Zero(t, backend.StoredCount(), "kept in the log, not flushed")
	assert.DirExists(t, filepath.Join(dir, "ordered_rw_amp"))

	second, err := newExporter(walConfig(backend.URL(), dir), set)
	require.NoError(t, err)
	second.clock = clock
	require.NoError(t, second.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, second.shutdown(context.Background())) }()
	require.Eventually(t, func() bool { return second.engine.HeldSamples() == 33 }, 5*time.Second, time.Millisecond)
	clock.set(time.UnixMilli(200_000))
	second.engine.ReleaseDue()
	waitIdle(t, second)
	stored := backend.Stored()
	require.Len(t, stored, 11)
	for key, samples := range stored {
		require.Len(t, samples, 3, key)
	}
	assert.Zero(t, backend.Rejected())
}

// A `wal.directory` the exporter cannot use fails the start, naming it.
func TestWALStartFailsOnAnUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-directory")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	exp, err := newExporter(walConfig("http://127.0.0.1:1/api/v1/write", file), exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	err = exp.start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "cannot open the write-ahead log in \""+file)
	require.NoError(t, exp.shutdown(context.Background()))
}
