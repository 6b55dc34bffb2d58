package orderedrwexporter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
)

// Metrics named "" or "_" (or only characters that are not valid without UTF-8 names) vanished in the upstream translator with no counter (issue 18), and so
// did delta sums. They are counted dropped now, with their own reasons, and logged with an
// example; the rest of the push is delivered.
func TestUntranslatableMetricsAreCounted(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	backend := promtest.NewBackend(t)
	cfg := testConfig(backend.URL())
	cfg.Ordering.Mode = ModeNone
	cfg.TargetInfo.Enabled = false
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	exp, err := newExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, exp.start(context.Background(), componenttest.NewNopHost()))

	now := pcommon.NewTimestampFromTime(time.Now())
	md := pmetric.NewMetrics()
	metrics := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	for _, name := range []string{"", "_", strings.Repeat("é", 1<<20), "ok"} {
		m := metrics.AppendEmpty()
		m.SetName(name)
		gauge := m.SetEmptyGauge()
		for i := range 2 {
			dp := gauge.DataPoints().AppendEmpty()
			dp.SetTimestamp(now + pcommon.Timestamp(i*int(time.Millisecond)))
			dp.SetDoubleValue(1)
		}
	}
	delta := metrics.AppendEmpty()
	delta.SetName("requests")
	delta.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	delta.Sum().SetIsMonotonic(true)
	delta.Sum().DataPoints().AppendEmpty().SetTimestamp(now)
	hist := metrics.AppendEmpty()
	hist.SetName("_")
	hdp := hist.SetEmptyHistogram().DataPoints().AppendEmpty()
	hist.Histogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp.SetTimestamp(now)
	hdp.ExplicitBounds().FromRaw([]float64{1, 2})
	hdp.BucketCounts().FromRaw([]uint64{1, 0, 0})
	hdp.SetSum(1)

	require.NoError(t, exp.pushMetrics(context.Background(), md))
	waitIdle(t, exp)

	id := attribute.String("exporter", set.ID.String())
	dropped := func(reason string) int64 {
		return sumOf(t, tel, "otelcol_exporter_ordered_rw_dropped_samples", attribute.NewSet(id, attribute.String("reason", reason)))
	}
	// 3 metrics of 2 points, and a histogram point: 3 buckets (+Inf included), count and sum.
	assert.Equal(t, int64(3*2+5), dropped("invalid_name"))
	assert.Equal(t, int64(1), dropped("invalid_temporality"))
	assert.Equal(t, 2, backend.StoredCount(), "the valid metric is delivered")
	all, err := tel.GetMetric("otelcol_exporter_ordered_rw_dropped_samples")
	require.NoError(t, err)
	var total int64
	for _, dp := range all.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
	}
	assert.Equal(t, int64(11+1), total, "nothing else is dropped")

	require.NoError(t, exp.shutdown(context.Background()))
	// The drop log: a line at the first drop, the rest when the engine shuts down.
	loggedByReason := map[string]int64{}
	for _, entry := range logs.FilterMessage("Samples were dropped.").All() {
		fields := entry.ContextMap()
		assert.Less(t, len(fmt.Sprint(fields)), 1000, "a 2 MB name does not make a 2 MB log line")
		assert.Contains(t, fields["example_series"], `{__name__="`)
		for _, reason := range []string{"invalid_name", "invalid_temporality"} {
			if n, ok := fields[reason].(int64); ok {
				loggedByReason[reason] += n
			}
		}
	}
	assert.Equal(t, map[string]int64{"invalid_name": 11, "invalid_temporality": 1}, loggedByReason)
}
