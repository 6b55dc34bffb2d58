package orderedrwexporter

import (
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestUnmarshalDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.New().Unmarshal(cfg))
	want := createDefaultConfig().(*Config)
	// As upstream: the deprecated squashed client settings move to `http` and are emptied.
	want.ClientConfig = confighttp.ClientConfig{}
	assert.Equal(t, want, cfg)
	assert.Equal(t, ModeHoldback, cfg.Ordering.Mode)
	assert.Equal(t, "collector_gateway", cfg.Ordering.Stamp.Label)
	assert.Equal(t, 5*time.Second, cfg.Ordering.Holdback.Window)
	assert.Equal(t, 1_000_000, cfg.Ordering.Holdback.MaxHeldSamples)
	assert.Equal(t, time.Minute, cfg.Ordering.Holdback.MaxFuture)
	assert.Equal(t, 15*time.Minute, cfg.Ordering.IdleTimeout)
	assert.Equal(t, 1_000_000, cfg.Ordering.MaxTrackedSeries)
	assert.Equal(t, 20*time.Second, cfg.Ordering.ShutdownTimeout)
	assert.Zero(t, cfg.Ordering.MaxBufferedBytes, "derived from the memory limit at start")
	assert.Equal(t, 5, cfg.RemoteWriteQueue.NumConsumers)
	assert.Equal(t, ShardsConfig{MinShards: 1, MaxShards: 5}, cfg.Shards, "start at one shard, at most upstream's num_consumers")
	assert.NoError(t, componenttest.CheckConfigStruct(cfg))
}

func TestLoadUpstreamKeys(t *testing.T) {
	cfg, err := loadConfig(t, "upstream_keys")
	require.NoError(t, err)
	assert.Equal(t, "test-space", cfg.Namespace)
	assert.Equal(t, "http://localhost:8888/api/v1/write", cfg.HTTP.Endpoint, "top-level client keys land in http as upstream")
	assert.Equal(t, "/var/lib/mycert.pem", cfg.HTTP.TLS.CAFile)
	orgID, ok := cfg.HTTP.Headers.Get("X-Scope-OrgID")
	assert.True(t, ok)
	assert.Equal(t, "234", string(orgID))
	assert.Equal(t, 10*time.Second, cfg.BackOffConfig.InitialInterval)
	assert.Equal(t, map[string]string{"key1": "value1"}, cfg.ExternalLabels)
	assert.True(t, cfg.ResourceToTelemetrySettings.Enabled) //nolint:staticcheck // upstream key
	assert.False(t, cfg.TargetInfo.Enabled)
	assert.Equal(t, 2000, cfg.RemoteWriteQueue.QueueSize)
	assert.Equal(t, 10, cfg.RemoteWriteQueue.NumConsumers)
	assert.Equal(t, 1_000_000, cfg.MaxBatchSizeBytes)
	assert.Equal(t, 7*time.Second, cfg.TimeoutSettings.Timeout)
	assert.Equal(t, 7*time.Second, cfg.HTTP.Timeout, "timeout ties both bounds as upstream")
	assert.Equal(t, ModeHoldback, cfg.Ordering.Mode, "ordering defaults when absent")
}

func TestLoadOrdering(t *testing.T) {
	cfg, err := loadConfig(t, "ordering")
	require.NoError(t, err)
	assert.Equal(t, OrderingConfig{
		Mode:             ModeHoldbackAndStamp,
		IdleTimeout:      5 * time.Minute,
		MaxTrackedSeries: 20_000,
		MaxBufferedBytes: 64 << 20,
		Stamp:            StampConfig{Label: "gw", Value: "gateway-1"},
		Holdback:         HoldbackConfig{Window: 2 * time.Second, MaxHeldSamples: 5000, MaxFuture: 20 * time.Second},
		ShutdownTimeout:  15 * time.Second,
	}, cfg.Ordering)
}

// Mode none neither holds nor stamps: the engine gets no hold-back and the series no label.
func TestLoadModeNone(t *testing.T) {
	cfg, err := loadConfig(t, "mode_none")
	require.NoError(t, err)
	assert.Equal(t, ModeNone, cfg.Ordering.Mode)
	exp, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	assert.False(t, exp.engineSettings().Holdback)
	assert.Empty(t, exp.stampLabel)
	series := exp.translate(gauges(1, time.UnixMilli(100_000), false))
	require.NotEmpty(t, series)
	for _, s := range series {
		assert.NotContains(t, s.Labels.String(), defaultStampLabel)
	}
}

// The upstream `wal` block, at the same keys with the same meaning: 0 means the default.
// With a WAL a shutdown keeps held samples in the log: the window need not fit in the shutdown.
func TestShutdownTimeoutWithinWindowWithWAL(t *testing.T) {
	cfg, err := loadConfig(t, "shutdown_timeout_within_window_with_wal")
	require.NoError(t, err)
	assert.Equal(t, 20*time.Second, cfg.Ordering.ShutdownTimeout)
	assert.Equal(t, 30*time.Second, cfg.Ordering.Holdback.Window)
}

func TestLoadWAL(t *testing.T) {
	cfg, err := loadConfig(t, "wal")
	require.NoError(t, err)
	require.True(t, cfg.WAL.HasValue())
	assert.Equal(t, prometheusremotewriteexporter.WALConfig{
		Directory:          "/var/lib/otelcol/wal",
		BufferSize:         300,
		TruncateFrequency:  45 * time.Second,
		LagRecordFrequency: 5 * time.Second,
	}, *cfg.WAL.Get())

	cfg, err = loadConfig(t, "wal_defaults")
	require.NoError(t, err)
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	exp, err := newExporter(cfg, set)
	require.NoError(t, err)
	walSettings := exp.engineSettings().WAL
	require.NotNil(t, walSettings)
	assert.Equal(t, wal.Settings{
		Directory:        filepath.Join("/var/lib/otelcol/wal", "ordered_rw"),
		TruncateInterval: time.Minute,
		LagInterval:      15 * time.Second,
	}, *walSettings)

	cfg, err = loadConfig(t, "")
	require.NoError(t, err)
	assert.False(t, cfg.WAL.HasValue(), "no WAL unless configured")
}

// Each exporter has its own log under `wal.directory`: two logs in one folder would corrupt
// each other.
func TestWALDirectoryPerComponent(t *testing.T) {
	assert.Equal(t, filepath.Join("/d", "ordered_rw"), walDirectory("/d", component.NewID(metadata.Type)))
	assert.Equal(t, filepath.Join("/d", "ordered_rw_amp-1"), walDirectory("/d", component.NewIDWithName(metadata.Type, "amp-1")))
	assert.Equal(t, filepath.Join("/d", "ordered_rw_a_b"), walDirectory("/d", component.NewIDWithName(metadata.Type, "a/b")))
}

func TestValidate(t *testing.T) {
	for name, want := range map[string]string{
		"wal_no_directory":                  "`wal.directory` must be set when `wal` is present, found \"\"",
		"wal_negative_buffer_size":          "`wal.buffer_size` is not supported by ordered_rw, found -1",
		"wal_buffer_size":                   "`wal.buffer_size` is not supported by ordered_rw, found 100: upstream reads that many entries per upload",
		"queue_disabled":                    "`remote_write_queue.enabled` must be true for ordered_rw, found false",
		"stamp_mode_zero_window":            "ordering::holdback: `ordering.holdback.window` must be positive, found 0s",
		"holdback_mode_empty_stamp_label":   "ordering::stamp: `ordering.stamp.label` must not be empty, found \"\"",
		"wal_negative_truncate_frequency":   "`wal.truncate_frequency` must be positive (or 0 for the default 1m0s), found -1s",
		"wal_negative_lag_record_frequency": "`wal.lag_record_frequency` must be positive (or 0 for the default 15s), found -5s",
		"bad_mode":                          "ordering: `ordering.mode` must be one of holdback, stamp, holdback_and_stamp, none, found \"fifo\"",
		"zero_window":                       "ordering::holdback: `ordering.holdback.window` must be positive, found 0s",
		"negative_max_held":                 "ordering::holdback: `ordering.holdback.max_held_samples` must be positive, found -1",
		"zero_idle_timeout":                 "ordering: `ordering.idle_timeout` must be positive, found 0s",
		"negative_max_tracked_series":       "ordering: `ordering.max_tracked_series` must be positive, found -1",
		"negative_max_buffered_bytes":       "ordering: `ordering.max_buffered_bytes` must not be negative (0 derives it from the memory limit), found -1",
		"zero_max_future":                   "ordering::holdback: `ordering.holdback.max_future` must be positive, found 0s",
		"empty_stamp_label":                 "ordering::stamp: `ordering.stamp.label` must not be empty, found \"\"",
		"include_metadata_keys":             "`include_metadata_keys` is not supported by ordered_rw, found [\"x-tenant\"]",
		"send_metadata":                     "`send_metadata: true` is not supported by ordered_rw, found true",
		"remote_write_2":                    "`protobuf_message` must be prometheus.WriteRequest (remote write 1.0), found \"io.prometheus.write.v2.Request\"",
		"negative_queue_size":               "remote write queue size can't be negative", // upstream's own rule
		"zero_shutdown_timeout":             "ordering: `ordering.shutdown_timeout` must be positive, found 0s",
		"shutdown_timeout_within_window":    "`ordering.shutdown_timeout` must be greater than `ordering.holdback.window` (10s) without `wal`, found 10s",
		"zero_min_shards":                   "`remote_write_queue.min_shards` must be positive, found 0",
		"max_below_min_shards":              "`remote_write_queue.max_shards` must be at least `remote_write_queue.min_shards` (4), found 2",
		"max_shards_and_num_consumers_differ": "`remote_write_queue.max_shards` must equal `remote_write_queue.num_consumers` (upstream's name for the most parallel requests) " +
			"when both are set, found 8 and 6; set one of them",
		"max_shards_and_parallelism_differ": "`remote_write_queue.max_shards` must equal `max_batch_request_parallelism` (upstream's name for the most parallel requests) " +
			"when both are set, found 8 and 3; set one of them",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}

// The stamp's default value is the collector's one default name: $HOSTNAME first, as
// fleet_health's member id.
func TestStampValueDefaultsToHOSTNAME(t *testing.T) {
	t.Setenv("HOSTNAME", "gateway-7f9c")
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.Endpoint = "http://localhost:8888/api/v1/write"
	cfg.Ordering.Mode = ModeStamp
	exp, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	assert.Equal(t, "gateway-7f9c", exp.stampValue)
	series := exp.translate(gauges(1, time.UnixMilli(100_000), false))
	require.NotEmpty(t, series)
	for _, s := range series {
		assert.Contains(t, s.Labels.String(), `collector_gateway="gateway-7f9c"`)
	}
}

// max_shards is the most shards, each with one request in flight: upstream's parallel HTTP
// requests, num_consumers (or max_batch_request_parallelism when set, as upstream). Either name
// sets it; both set must agree. The exporter starts at min_shards; the queue is shared.
func TestShardKeys(t *testing.T) {
	for name, want := range map[string]struct {
		shards       ShardsConfig
		numConsumers int
	}{
		"shards":                             {ShardsConfig{MinShards: 2, MaxShards: 8}, 8},
		"num_consumers_only":                 {ShardsConfig{MinShards: 1, MaxShards: 12}, 12},
		"max_shards_and_num_consumers_agree": {ShardsConfig{MinShards: 1, MaxShards: 6}, 6},
		"":                                   {ShardsConfig{MinShards: 1, MaxShards: 5}, 5},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := loadConfig(t, name)
			require.NoError(t, err)
			assert.Equal(t, want.shards, cfg.Shards)
			assert.Equal(t, want.numConsumers, cfg.RemoteWriteQueue.NumConsumers, "upstream's key follows max_shards")
			cfg.HTTP.Endpoint = "http://localhost:8888/api/v1/write"
			exp, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
			require.NoError(t, err)
			assert.Equal(t, want.shards.MinShards, exp.engineSettings().MinShards)
			assert.Equal(t, want.shards.MaxShards, exp.engineSettings().MaxShards)
			assert.Equal(t, cfg.RemoteWriteQueue.QueueSize, exp.engineSettings().QueueSize, "shared by the shards")
		})
	}
}

// max_batch_request_parallelism, set, is the most shards when max_shards is not, as upstream
// gives it precedence over num_consumers.
func TestParallelismIsMaxShards(t *testing.T) {
	cm := confmap.NewFromStringMap(map[string]any{"max_batch_request_parallelism": 3, "remote_write_queue": map[string]any{"num_consumers": 7}})
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cm.Unmarshal(cfg))
	assert.Equal(t, ShardsConfig{MinShards: 1, MaxShards: 3}, cfg.Shards)
	require.NoError(t, cfg.Validate())
}

// `ordering.max_buffered_bytes` when set; else a quarter of GOMEMLIMIT when the runtime has one.
func TestMaxBufferedBytesDefault(t *testing.T) {
	got, from := maxBufferedBytes(64<<20, zap.NewNop())
	assert.Equal(t, int64(64<<20), got)
	assert.Equal(t, "ordering.max_buffered_bytes", from)

	previous := debug.SetMemoryLimit(800 << 20)
	defer debug.SetMemoryLimit(previous)
	got, from = maxBufferedBytes(0, zap.NewNop())
	assert.Equal(t, int64(200<<20), got)
	assert.Equal(t, "a quarter of GOMEMLIMIT", from)
}
