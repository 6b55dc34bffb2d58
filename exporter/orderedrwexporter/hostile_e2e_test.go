package orderedrwexporter_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// wholeWALEntries is the number of whole entries at the start of a log segment: each is a uvarint
// length and that many bytes (tidwall/wal's binary format).
func wholeWALEntries(data []byte) int {
	n := 0
	for len(data) > 0 {
		size, k := binary.Uvarint(data)
		if k <= 0 || uint64(len(data)-k) < size {
			break
		}
		data = data[k+int(size):]
		n++
	}
	return n
}

// TestWALTruncatedSegment: a crash, then the last segment of the log cut to half its size (a full
// disk, a write cut short). Before, the collector refused to start ("log corrupt") and crash-looped
// until someone deleted the log, and with it every intact entry. Now it starts, the partial entry
// is cut off and counted, and the whole entries before it are delivered.
func TestWALTruncatedSegment(t *testing.T) {
	fleettest.CollectorBinary(t)
	const numSeries, requests = 200, 10
	prom := fleettest.StartPrometheus(t)
	walDir := t.TempDir()
	otlpPort := fleettest.FreePort(t)
	env := []string{"OTLP_PORT=" + strconv.Itoa(otlpPort), "RW_URL=" + prom.RemoteWriteURL(), "WAL_DIR=" + walDir}
	otlp := fmt.Sprintf("127.0.0.1:%d", otlpPort)
	match := fmt.Sprintf(`{__name__=%q}`, e2eMetric)

	first := fleettest.StartCollector(t, walGatewayConfig, env...)
	// 20 s old: held for 10 s of the 30 s window, then, after the restart, past it: sent at once.
	stamp := time.Now().Add(-20 * time.Second).Truncate(time.Second)
	for step := range requests {
		// One request, one push, one log entry.
		fleettest.SendOTLP(t, otlp, batch(numSeries, step, stamp.Add(time.Duration(step)*100*time.Millisecond), false))
	}
	first.Kill(t)
	require.Zero(t, prom.CountSamples(t, match, 10*time.Minute), "the premise: everything was held when the collector died")

	segment := filepath.Join(walDir, "ordered_rw", "00000000000000000001")
	data, err := os.ReadFile(segment)
	require.NoError(t, err)
	require.Equal(t, requests, wholeWALEntries(data))
	half := len(data) / 2
	intact := wholeWALEntries(data[:half])
	require.NoError(t, os.Truncate(segment, int64(half)))

	second := fleettest.StartCollector(t, walGatewayConfig, env...)
	require.Eventually(t, func() bool {
		return prom.CountSamples(t, match, 10*time.Minute) == numSeries*intact
	}, 30*time.Second, 200*time.Millisecond, "the %d whole entries are delivered", intact)
	m := second.Metrics(t)
	assert.Equal(t, 1.0, fleettest.Sum(m, "otelcol_exporter_ordered_rw_wal_read_failures", nil), "the partial entry is counted")
	assert.Equal(t, float64(numSeries*intact), fleettest.Sum(m, "otelcol_exporter_ordered_rw_wal_replayed_samples", nil))
	assert.Contains(t, second.Logs(), "it was cut off at the last whole entry")
	assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", nil))

	// New pushes are taken and written after the cut.
	fleettest.SendOTLP(t, otlp, batch(numSeries, requests, stamp.Add(5*time.Second), false))
	require.Eventually(t, func() bool {
		return prom.CountSamples(t, match, 10*time.Minute) == numSeries*(intact+1)
	}, 30*time.Second, 200*time.Millisecond)
	t.Logf("segment of %d entries (%d bytes) cut to %d bytes: %d whole entries delivered, 1 partial entry counted, %d entries beyond it left no trace",
		requests, len(data), half, intact, requests-intact-1)
}

// futureConfig holds samples for 2 s with a log truncated every second, and fewer held samples
// allowed than the client below sends stamped in the future.
const futureConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 500ms
    wal:
      directory: ${env:WAL_DIR}
      truncate_frequency: 1s
    ordering:
      holdback:
        window: 2s
        max_held_samples: 1000
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`

// TestFutureTimestamps: a client stamps 2,000 samples in the year 2200, then 500 real samples.
// Before, the future samples were held until 2200: they pinned the log's truncation (it only
// grew) and filled max_held_samples, so that every real sample was released early. Now they are
// dropped and counted too_far_in_future: the log is back to a handful of entries once the real
// samples are delivered, and none of them is released early.
func TestFutureTimestamps(t *testing.T) {
	fleettest.CollectorBinary(t)
	// The real samples alone fit in max_held_samples (500 of 1000); the future ones do not.
	const futureSeries, numSeries, requests = 2000, 50, 10
	prom := fleettest.StartPrometheus(t)
	otlpPort := fleettest.FreePort(t)
	env := []string{"OTLP_PORT=" + strconv.Itoa(otlpPort), "RW_URL=" + prom.RemoteWriteURL(), "WAL_DIR=" + t.TempDir()}
	otlp := fmt.Sprintf("127.0.0.1:%d", otlpPort)
	col := fleettest.StartCollector(t, futureConfig, env...)

	year2200 := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	fleettest.SendOTLP(t, otlp, batch(futureSeries, 0, year2200, false))
	for step := range requests {
		md := batch(numSeries, step, time.Now(), false)
		md.ResourceMetrics().At(0).Resource().Attributes().PutStr("service.instance.id", "app-2") // other series
		fleettest.SendOTLP(t, otlp, md)
		time.Sleep(100 * time.Millisecond)
	}
	match := fmt.Sprintf(`{__name__=%q,instance="app-2"}`, e2eMetric)
	require.Eventually(t, func() bool {
		return prom.CountSamples(t, match, 10*time.Minute) == numSeries*requests
	}, 30*time.Second, 200*time.Millisecond, "every real sample is delivered")

	var m map[string]float64
	require.Eventually(t, func() bool {
		m = col.Metrics(t)
		return fleettest.Sum(m, "otelcol_exporter_ordered_rw_wal_entries", nil) <= 2
	}, 10*time.Second, 200*time.Millisecond, "the log is truncated: nothing pins it")
	assert.Equal(t, float64(futureSeries),
		fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": "too_far_in_future"}))
	assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_released_samples", map[string]string{"reason": "early"}),
		"no real sample released early")
	assert.Equal(t, float64(numSeries*requests),
		fleettest.Sum(m, "otelcol_exporter_ordered_rw_released_samples", map[string]string{"reason": "on_time"}))
	assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_held_samples", nil))
	assert.Zero(t, prom.CountSamples(t, fmt.Sprintf(`{__name__=%q,instance="app-1"}`, e2eMetric), 10*time.Minute))
	t.Logf("WAL entries after delivery: %.0f (of %d written)", fleettest.Sum(m, "otelcol_exporter_ordered_rw_wal_entries", nil),
		int(fleettest.Sum(m, "otelcol_exporter_ordered_rw_wal_written_entries", nil)))
}

// seriesCapConfig caps the per-series state at 1,000 series, forgotten 2 s after their last sample.
const seriesCapConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
    ordering:
      idle_timeout: 2s
      max_tracked_series: 1000
      holdback:
        window: 1s
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`

// TestSeriesCap: 5,000 new series through ordered_rw alone, with max_tracked_series 1,000. Before,
// its per-series state grew with every series (5M series: 1.71 GB) and idle series were forgotten
// only when their shard next got traffic. Now the state stops at the cap, the samples of the
// series beyond it are dropped and counted, and once the traffic stops the idle series are
// forgotten on a timer, which makes room for new series again.
func TestSeriesCap(t *testing.T) {
	fleettest.CollectorBinary(t)
	const numSeries, capSeries = 5000, 1000
	prom := fleettest.StartPrometheus(t)
	otlpPort := fleettest.FreePort(t)
	env := []string{"OTLP_PORT=" + strconv.Itoa(otlpPort), "RW_URL=" + prom.RemoteWriteURL()}
	otlp := fmt.Sprintf("127.0.0.1:%d", otlpPort)
	col := fleettest.StartCollector(t, seriesCapConfig, env...)
	match := fmt.Sprintf(`{__name__=%q}`, e2eMetric)

	for part := range numSeries / 500 {
		md := batch(500, 0, time.Now(), false)
		md.ResourceMetrics().At(0).Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("app-%d", part))
		fleettest.SendOTLP(t, otlp, md)
	}
	require.Eventually(t, func() bool {
		return prom.CountSamples(t, match, 10*time.Minute) == capSeries
	}, 30*time.Second, 200*time.Millisecond, "the series within the cap are delivered")
	m := col.Metrics(t)
	assert.Equal(t, float64(capSeries), fleettest.Sum(m, "otelcol_exporter_ordered_rw_tracked_series", nil))
	assert.Equal(t, float64(numSeries-capSeries),
		fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": "max_tracked_series"}))

	require.Eventually(t, func() bool {
		return fleettest.Sum(col.Metrics(t), "otelcol_exporter_ordered_rw_tracked_series", nil) == 0
	}, 15*time.Second, 200*time.Millisecond, "idle series are forgotten with no traffic")
	md := batch(1, 1, time.Now(), false)
	md.ResourceMetrics().At(0).Resource().Attributes().PutStr("service.instance.id", "app-new")
	fleettest.SendOTLP(t, otlp, md)
	require.Eventually(t, func() bool {
		return prom.CountSamples(t, match, 10*time.Minute) == capSeries+1
	}, 30*time.Second, 200*time.Millisecond, "a new series is taken again")
}
