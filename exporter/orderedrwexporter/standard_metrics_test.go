package orderedrwexporter

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
)

const (
	sentMetric       = "otelcol_exporter_sent_metric_points"
	sendFailedMetric = "otelcol_exporter_send_failed_metric_points"
	queueSizeMetric  = "otelcol_exporter_queue_size"
	queueCapMetric   = "otelcol_exporter_queue_capacity"
)

// sumOf is the value of the counter name with exactly the attributes attrs, 0 when absent.
func sumOf(t *testing.T, tel *componenttest.Telemetry, name string, attrs attribute.Set) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if dp.Attributes.Equals(&attrs) {
			return dp.Value
		}
	}
	return 0
}

// The standard exporter metrics mean what they mean for prometheus_remote_write: sent is what
// the backend accepted, send_failed what will never be delivered, whatever pushMetrics returned.
// exporterhelper alone would count sent when a push is queued: 20 here, where the backend
// stored 10.
func TestStandardMetricsCountDelivered(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	backend := promtest.NewBackend(t)
	cfg := testConfig(backend.URL())
	cfg.Ordering.Mode = ModeNone
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "amp")
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })

	id := attribute.String("exporter", "ordered_rw/amp")
	sentAttrs := attribute.NewSet(id)
	staleAttrs := attribute.NewSet(id, attribute.String("error.type", "_OTHER"), attribute.Bool("error.permanent", true))

	t2 := time.UnixMilli(200_000)
	require.NoError(t, exp.ConsumeMetrics(context.Background(), gauges(10, t2, false)))
	require.Eventually(t, func() bool { return sumOf(t, tel, sentMetric, sentAttrs) == 10 }, 10*time.Second, 5*time.Millisecond)
	// Older than what was sent for each series: accepted by pushMetrics, dropped as stale.
	require.NoError(t, exp.ConsumeMetrics(context.Background(), gauges(10, t2.Add(-time.Second), false)))
	require.Eventually(t, func() bool { return sumOf(t, tel, sendFailedMetric, staleAttrs) == 10 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, int64(10), sumOf(t, tel, sentMetric, sentAttrs), "the stale samples were not delivered")
	assert.Equal(t, 10, backend.StoredCount())

	queueAttrs := attribute.NewSet(id, attribute.String("data_type", "metrics"))
	// The stale samples are counted as the shard encodes their batch, which leaves the queue a
	// moment later, once the shard's sender takes it.
	require.Eventually(t, func() bool {
		m, err := tel.GetMetric(queueSizeMetric)
		if err != nil {
			return false
		}
		dps := m.Data.(metricdata.Gauge[int64]).DataPoints
		return len(dps) == 1 && dps[0].Value == 0
	}, 10*time.Second, 5*time.Millisecond, "the queue empties")
	for name, want := range map[string]int64{queueSizeMetric: 0, queueCapMetric: int64(cfg.RemoteWriteQueue.QueueSize / cfg.RemoteWriteQueue.NumConsumers * cfg.RemoteWriteQueue.NumConsumers)} {
		m, err := tel.GetMetric(name)
		require.NoError(t, err, name)
		dps := m.Data.(metricdata.Gauge[int64]).DataPoints
		require.Len(t, dps, 1, name)
		assert.Equal(t, queueAttrs, dps[0].Attributes, name)
		assert.Equal(t, want, dps[0].Value, name)
	}
}

// A push refused (here, after the exporter shut down) is counted failed, not permanent, as
// exporterhelper counts an error of the push function.
func TestStandardMetricsCountRefusedPush(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := testConfig(promtest.NewBackend(t).URL())
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := newExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, exp.start(context.Background(), componenttest.NewNopHost()))
	engine := exp.engine
	require.NoError(t, exp.shutdown(context.Background()))
	require.Error(t, engine.Push(context.Background(), exp.translate(gauges(4, time.UnixMilli(100_000), false))))
	failed := attribute.NewSet(attribute.String("exporter", set.ID.String()),
		attribute.String("error.type", "_OTHER"), attribute.Bool("error.permanent", false))
	assert.Equal(t, int64(4), sumOf(t, tel, sendFailedMetric, failed))
}

// The four standard metrics have exporterhelper's names, units, descriptions and attribute keys:
// compared with what exporterhelper itself emits for an exporter with a queue.
func TestStandardMetricsMatchExporterhelper(t *testing.T) {
	helperTel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, helperTel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = helperTel.NewTelemetrySettings()
	var failed atomic.Bool
	helper, err := exporterhelper.NewMetrics(context.Background(), set, &struct{}{},
		func(context.Context, pmetric.Metrics) error {
			if failed.CompareAndSwap(false, true) {
				return assert.AnError // the first push fails, for send_failed's attributes
			}
			return nil
		},
		exporterhelper.WithQueue(configoptional.Some(exporterhelper.NewDefaultQueueConfig())),
		exporterhelper.WithRetry(configRetryDisabled()))
	require.NoError(t, err)
	require.NoError(t, helper.Start(context.Background(), componenttest.NewNopHost()))
	// Shut down after the comparison: the queue gauges are unregistered then.
	t.Cleanup(func() { require.NoError(t, helper.Shutdown(context.Background())) })
	require.NoError(t, helper.ConsumeMetrics(context.Background(), gauges(1, time.UnixMilli(1), false)))
	require.NoError(t, helper.ConsumeMetrics(context.Background(), gauges(1, time.UnixMilli(2), false)))
	require.Eventually(t, func() bool {
		_, sentErr := helperTel.GetMetric(sentMetric)
		_, failedErr := helperTel.GetMetric(sendFailedMetric)
		return sentErr == nil && failedErr == nil
	}, 10*time.Second, 5*time.Millisecond)

	ourTel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, ourTel.Shutdown(context.Background())) })
	backend := promtest.NewBackend(t)
	cfg := testConfig(backend.URL())
	cfg.Ordering.Mode = ModeNone
	set.TelemetrySettings = ourTel.NewTelemetrySettings()
	ours, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ours.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ours.Shutdown(context.Background())) })
	require.NoError(t, ours.ConsumeMetrics(context.Background(), gauges(1, time.UnixMilli(2), false)))
	require.NoError(t, ours.ConsumeMetrics(context.Background(), gauges(1, time.UnixMilli(1), false))) // stale: failed
	require.Eventually(t, func() bool {
		_, sentErr := ourTel.GetMetric(sentMetric)
		_, failedErr := ourTel.GetMetric(sendFailedMetric)
		return sentErr == nil && failedErr == nil
	}, 10*time.Second, 5*time.Millisecond)

	for _, name := range []string{sentMetric, sendFailedMetric, queueSizeMetric, queueCapMetric} {
		want, err := helperTel.GetMetric(name)
		require.NoError(t, err, name)
		got, err := ourTel.GetMetric(name)
		require.NoError(t, err, name)
		assert.Equal(t, want.Description, got.Description, name)
		assert.Equal(t, want.Unit, got.Unit, name)
		assert.Equal(t, attributeKeys(want.Data), attributeKeys(got.Data), name)
	}
}

func configRetryDisabled() configretry.BackOffConfig {
	cfg := configretry.NewDefaultBackOffConfig()
	cfg.Enabled = false
	return cfg
}

// attributeKeys lists the attribute keys of every data point of data.
func attributeKeys(data metricdata.Aggregation) [][]attribute.Key {
	var keys [][]attribute.Key
	add := func(set attribute.Set) {
		var k []attribute.Key
		for _, kv := range set.ToSlice() {
			k = append(k, kv.Key)
		}
		keys = append(keys, k)
	}
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			add(dp.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			add(dp.Attributes)
		}
	}
	return keys
}
