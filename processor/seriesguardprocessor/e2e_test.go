package seriesguardprocessor_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// e2eConfig: OTLP in, series_guard, remote write to a real Prometheus. target_info is off so
// that every series Prometheus stores comes through the guard.
const e2eConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  series_guard:
    label_limits:
      max_labels_per_series: 8
      max_label_value_length: 40
    series_limits:
      max_series: 25
      max_series_per_metric: 15
      tenant:
        attribute: team
        max_series: 12
        overrides:
          b: 5
      idle_timeout: 1h
      action: drop_series
exporters:
  prometheus_remote_write:
    endpoint: ${env:RW_URL}
    target_info:
      enabled: false
    retry_on_failure:
      enabled: false
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [series_guard]
      exporters: [prometheus_remote_write]
`

// e2eBatch sends, in this order (numbers of series):
//   - gauge e2e.load, team a: 20 -> 12 admitted, 8 refused by the tenant cap (12)
//   - gauge e2e.load, team b: 10 -> 3 admitted (the metric reaches 15), 7 refused per metric;
//     team b's own cap (5) is not reached
//   - sum e2e.requests, no team: 15 -> 10 admitted (25 in total), 5 refused by max_series
//   - 3 points with 9 labels and 2 with a 60-byte value -> refused by the label limits
//
// 50 points, 25 series stored, 25 refused.
func e2eBatch(ts time.Time, counter float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "e2e")
	metrics := rm.ScopeMetrics().AppendEmpty().Metrics()
	stamp := pcommon.NewTimestampFromTime(ts)

	load := metrics.AppendEmpty()
	load.SetName("e2e.load")
	gauge := load.SetEmptyGauge().DataPoints()
	for _, team := range []struct {
		name string
		n    int
	}{{"a", 20}, {"b", 10}} {
		for i := range team.n {
			dp := gauge.AppendEmpty()
			dp.SetTimestamp(stamp)
			dp.SetDoubleValue(float64(i))
			dp.Attributes().PutStr("team", team.name)
			dp.Attributes().PutStr("s", fmt.Sprint(i))
		}
	}

	requests := metrics.AppendEmpty()
	requests.SetName("e2e.requests")
	sum := requests.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range 15 {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetTimestamp(stamp)
		dp.SetDoubleValue(counter)
		dp.Attributes().PutStr("s", fmt.Sprint(i))
	}

	bad := metrics.AppendEmpty()
	bad.SetName("e2e.bad")
	badPoints := bad.SetEmptyGauge().DataPoints()
	for i := range 3 {
		dp := badPoints.AppendEmpty()
		dp.SetTimestamp(stamp)
		dp.SetDoubleValue(1)
		for j := range 7 { // __name__, job and 7 attributes: 9 labels
			dp.Attributes().PutStr(fmt.Sprintf("l%d", j), fmt.Sprint(i))
		}
	}
	for i := range 2 {
		dp := badPoints.AppendEmpty()
		dp.SetTimestamp(stamp)
		dp.SetDoubleValue(1)
		dp.Attributes().PutStr("path", strings.Repeat("x", 59)+fmt.Sprint(i))
	}
	return md
}

// TestEndToEndCapsHoldExactly runs the built collector against a real Prometheus and checks
// that what Prometheus stores is exactly what the caps allow, that no stored series breaks the
// label limits, and that the self-metrics account for every point not stored.
func TestEndToEndCapsHoldExactly(t *testing.T) {
	prom := fleettest.StartPrometheus(t)
	otlpPort := fleettest.FreePort(t)
	col := fleettest.StartCollector(t, e2eConfig,
		fmt.Sprintf("OTLP_PORT=%d", otlpPort), "RW_URL="+prom.RemoteWriteURL())
	endpoint := fmt.Sprintf("127.0.0.1:%d", otlpPort)

	const sentPerRound, storedSeries = 50, 25
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	for round := range 2 {
		fleettest.SendOTLP(t, endpoint, e2eBatch(start.Add(time.Duration(round)*10*time.Second), float64(10*(round+1))))
		// Every stored series receives the round's sample: Prometheus holds 25 series, round+1
		// samples each.
		require.Eventually(t, func() bool {
			return prom.CountSamples(t, `{job="e2e"}`, time.Hour) == storedSeries*(round+1)
		}, 30*time.Second, 200*time.Millisecond, "round %d: samples stored %d\n%s", round,
			prom.CountSamples(t, `{job="e2e"}`, time.Hour), col.Logs())
	}

	series := prom.Series(t, `{job="e2e"}`)
	t.Logf("Prometheus stores %d series, e.g. %v", len(series), series[0])
	require.Len(t, series, storedSeries, "the series stored equal max_series")
	perMetric := map[string]int{}
	perTeam := map[string]int{}
	for _, s := range series {
		perMetric[s["__name__"]]++
		perTeam[s["team"]]++
		assert.LessOrEqual(t, len(s), 8, "labels of %v", s)
		for k, v := range s {
			assert.LessOrEqual(t, len(v), 40, "value of %s in %v", k, s)
		}
	}
	assert.Equal(t, map[string]int{"e2e_load": 15, "e2e_requests_total": 10}, perMetric)
	assert.Equal(t, map[string]int{"a": 12, "b": 3, "": 10}, perTeam)

	// The self-metrics: refused = sent - stored, by reason (the same in both rounds: the most
	// specific cap is named); refused series counted once.
	require.Eventually(t, func() bool {
		m := col.Metrics(t)
		return fleettest.Sum(m, "otelcol_processor_series_guard_refused_data_points", nil) == 2*(sentPerRound-storedSeries)
	}, 10*time.Second, 100*time.Millisecond)
	m := col.Metrics(t)
	want := map[string]float64{"tenant": 8, "max_series_per_metric": 7, "max_series": 5, "labels": 3, "label_value_length": 2}
	for reason, n := range want {
		labels := map[string]string{"processor": "series_guard", "reason": reason}
		assert.Equal(t, 2*n, fleettest.Sum(m, "otelcol_processor_series_guard_refused_data_points", labels), reason)
		assert.Equal(t, n, fleettest.Sum(m, "otelcol_processor_series_guard_refused_series", labels), reason)
	}
	assert.Equal(t, float64(storedSeries), fleettest.Sum(m, "otelcol_processor_series_guard_active_series", nil))
	assert.Equal(t, float64(storedSeries), fleettest.Sum(m, "otelcol_processor_series_guard_series_limit", nil))
	assert.Equal(t, 12.0, fleettest.Sum(m, "otelcol_processor_series_guard_tenant_active_series", map[string]string{"tenant": "a"}))
	assert.Equal(t, 3.0, fleettest.Sum(m, "otelcol_processor_series_guard_tenant_active_series", map[string]string{"tenant": "b"}))
	assert.Equal(t, 5.0, fleettest.Sum(m, "otelcol_processor_series_guard_tenant_series_limit", map[string]string{"tenant": "b"}))
	// Nothing else was lost on the way: the exporter sent everything the guard let through.
	assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_send_failed_metric_points", nil))
	assert.Equal(t, float64(2*storedSeries), fleettest.Sum(m, "otelcol_exporter_sent_metric_points", nil))
	// One log line per interval at most, never one per point.
	assert.LessOrEqual(t, strings.Count(col.Logs(), "Series guard refused"), 1)
}

const e2eOverflowConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  series_guard:
    series_limits:
      max_series: 2
      action: overflow
exporters:
  prometheus_remote_write:
    endpoint: ${env:RW_URL}
    target_info:
      enabled: false
    retry_on_failure:
      enabled: false
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [series_guard]
      exporters: [prometheus_remote_write]
`

// TestEndToEndOverflowCounterKeepsRate folds four of six counters into the overflow series and
// checks in Prometheus that increase() over the overflow series equals the sum of the increases
// of the counters it absorbed, one of which restarted, and that Prometheus saw no reset in it.
func TestEndToEndOverflowCounterKeepsRate(t *testing.T) {
	prom := fleettest.StartPrometheus(t)
	otlpPort := fleettest.FreePort(t)
	col := fleettest.StartCollector(t, e2eOverflowConfig,
		fmt.Sprintf("OTLP_PORT=%d", otlpPort), "RW_URL="+prom.RemoteWriteURL())
	endpoint := fmt.Sprintf("127.0.0.1:%d", otlpPort)

	const series, rounds = 6, 6
	values := make([]float64, series)
	starts := make([]time.Time, series)
	base := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	for i := range starts {
		starts[i] = base.Add(-time.Hour)
		values[i] = float64(100 * i)
	}
	foldedIncrease := 0.0
	for round := range rounds {
		ts := base.Add(time.Duration(round) * 10 * time.Second)
		if round > 0 {
			for i := range values {
				if i == 4 && round == 3 {
					values[i], starts[i] = 2, ts.Add(-time.Second) // a restart of a folded counter
				} else {
					values[i] += float64(i + 1)
				}
				if i >= 2 { // the first two series are admitted, the rest folded
					if i == 4 && round == 3 {
						foldedIncrease += 2
					} else {
						foldedIncrease += float64(i + 1)
					}
				}
			}
		}
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "overflow")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("e2e.jobs")
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for i := range values {
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(starts[i]))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			dp.SetDoubleValue(values[i])
			dp.Attributes().PutStr("s", fmt.Sprint(i))
		}
		fleettest.SendOTLP(t, endpoint, md)
		require.Eventually(t, func() bool {
			return prom.CountSamples(t, `e2e_jobs_total`, time.Hour) == 3*(round+1)
		}, 30*time.Second, 100*time.Millisecond, "round %d\n%s", round, col.Logs())
	}

	stored := prom.RawSamples(t, `e2e_jobs_total{otel_metric_overflow="true"}`, time.Hour)
	require.Len(t, stored, 1, "one overflow series for the metric")
	require.NotContains(t, stored[0].Labels, "job", "the overflow series carries no job label")
	// Prometheus saw no reset in the overflow series, and it grew by what was folded.
	window := fmt.Sprintf("%ds", int(time.Since(base.Add(-5*time.Second)).Seconds())+1)
	resets := prom.QueryScalar(t, `resets(e2e_jobs_total{otel_metric_overflow="true"}[`+window+`])`)
	require.Zero(t, resets, "Prometheus saw a reset in the overflow series")
	samples := stored[0].Samples
	require.Len(t, samples, rounds)
	var first, last float64
	var firstTs, lastTs int64 = 1 << 62, 0
	for ts, v := range samples {
		if ts < firstTs {
			firstTs, first = ts, v
		}
		if ts > lastTs {
			lastTs, last = ts, v
		}
	}
	assert.InDelta(t, foldedIncrease, last-first, 1e-9, "the overflow series grew by what its counters grew")
	m := col.Metrics(t)
	assert.Equal(t, float64(4*rounds), fleettest.Sum(m, "otelcol_processor_series_guard_folded_data_points", map[string]string{"reason": "max_series"}))
	assert.Equal(t, 4.0, fleettest.Sum(m, "otelcol_processor_series_guard_folded_series", map[string]string{"reason": "max_series"}))
	assert.Zero(t, fleettest.Sum(m, "otelcol_processor_series_guard_refused_data_points", nil))
	assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_send_failed_metric_points", nil))
}

// TestEndToEndHistogramSeriesCount checks the series a histogram and a summary count for against
// what a real Prometheus stores: a histogram with 3 bounds and a sum is 6 series (3 buckets,
// +Inf, _count, _sum), a summary with 2 quantiles is 4. With max_series 12, two histograms fill
// the cap exactly; the third histogram and the summary are refused.
func TestEndToEndHistogramSeriesCount(t *testing.T) {
	prom := fleettest.StartPrometheus(t)
	otlpPort := fleettest.FreePort(t)
	col := fleettest.StartCollector(t, strings.Replace(e2eOverflowConfig, "max_series: 2\n      action: overflow", "max_series: 12", 1),
		fmt.Sprintf("OTLP_PORT=%d", otlpPort), "RW_URL="+prom.RemoteWriteURL())

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "histograms")
	metrics := rm.ScopeMetrics().AppendEmpty().Metrics()
	ts := pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute))
	h := metrics.AppendEmpty()
	h.SetName("e2e.duration")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range 3 {
		dp := hist.DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.ExplicitBounds().FromRaw([]float64{0.1, 1, 10})
		dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4})
		dp.SetCount(10)
		dp.SetSum(12.5)
		dp.Attributes().PutStr("route", fmt.Sprint(i))
	}
	s := metrics.AppendEmpty()
	s.SetName("e2e.latency")
	sdp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.SetTimestamp(ts)
	sdp.SetCount(3)
	sdp.SetSum(1)
	for _, q := range []float64{0.5, 0.99} {
		v := sdp.QuantileValues().AppendEmpty()
		v.SetQuantile(q)
		v.SetValue(0.2)
	}
	fleettest.SendOTLP(t, loopback(otlpPort), md)

	require.Eventually(t, func() bool {
		return len(prom.Series(t, `{job="histograms"}`)) == 12
	}, 30*time.Second, 100*time.Millisecond, col.Logs())
	names := map[string]int{}
	for _, s := range prom.Series(t, `{job="histograms"}`) {
		names[s["__name__"]]++
	}
	assert.Equal(t, map[string]int{"e2e_duration_seconds_bucket": 8, "e2e_duration_seconds_count": 2, "e2e_duration_seconds_sum": 2}, names)
	require.Eventually(t, func() bool {
		return fleettest.Sum(col.Metrics(t), "otelcol_processor_series_guard_refused_samples", map[string]string{"reason": "max_series"}) == 6+4
	}, 10*time.Second, 100*time.Millisecond)
	m := col.Metrics(t)
	assert.Equal(t, 2.0, fleettest.Sum(m, "otelcol_processor_series_guard_refused_data_points", map[string]string{"reason": "max_series"}))
	assert.Equal(t, 12.0, fleettest.Sum(m, "otelcol_processor_series_guard_active_series", nil))
}

// loopback is the address of a port on 127.0.0.1.
func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// e2eDeprecatedConfig spells series_limits with the keys and values of the release before
// idle_timeout and drop_series: the converter must rewrite them, warning once per key.
const e2eDeprecatedConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  series_guard:
    series_limits:
      max_series: 1
      window: 2h
      action: drop
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [series_guard]
      exporters: [debug]
`

// TestEndToEndDeprecatedKeysStillStart starts the built collector on a config with the
// deprecated keys: it runs, warns once per key naming the replacement, and honours the values
// (the idle timeout it logs is 2h, not the default 1h; the second series is dropped, not folded).
func TestEndToEndDeprecatedKeysStillStart(t *testing.T) {
	otlpPort := fleettest.FreePort(t)
	col := fleettest.StartCollector(t, e2eDeprecatedConfig, fmt.Sprintf("OTLP_PORT=%d", otlpPort))

	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "deprecated")
	points := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
	rm.ScopeMetrics().At(0).Metrics().At(0).SetName("e2e.load")
	for i := range 2 {
		dp := points.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		dp.Attributes().PutInt("i", int64(i))
	}
	fleettest.SendOTLP(t, loopback(otlpPort), md)
	require.Eventually(t, func() bool {
		return fleettest.Sum(col.Metrics(t), "otelcol_processor_series_guard_refused_data_points", map[string]string{"reason": "max_series"}) == 1
	}, 10*time.Second, 100*time.Millisecond, col.Logs())
	m := col.Metrics(t)
	assert.Zero(t, fleettest.Sum(m, "otelcol_processor_series_guard_folded_data_points", nil), "action drop means drop_series, not overflow")

	logs := col.Logs()
	for _, warning := range []string{
		`retired setting "processors.series_guard.series_limits.window" rewritten to "processors.series_guard.series_limits.idle_timeout"; put this in the config instead: series_limits.idle_timeout: 2h`,
		`retired setting "processors.series_guard.series_limits.action: drop" rewritten to "processors.series_guard.series_limits.action: drop_series"; put this in the config instead: series_limits.action: drop_series`,
	} {
		assert.Equal(t, 1, strings.Count(logs, warning), "one warning: %s\n%s", warning, logs)
	}
	assert.Equal(t, 2, strings.Count(logs, "retired setting"), logs)
	assert.Contains(t, logs, `"idle_timeout": 7200`, "the production encoder writes durations in seconds")
	assert.Contains(t, logs, `"series_action": "drop_series"`)
}
