package orderedrwexporter_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// envFiveMillion runs TestFiveMillionNewSeries, which takes about a minute and a few GB of the
// test's own memory to build the load: not part of make test.
const envFiveMillion = "ORDERED_RW_5M"

// scaleConfig is ordered_rw alone, with its defaults (max_tracked_series 1,000,000), writing to a
// backend that accepts everything.
const scaleConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`

// peakRSS is the high-water mark of the resident memory of pid (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	require.NotNil(t, m)
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	return kb << 10
}

// TestFiveMillionNewSeries: 5,000,000 new series, one sample each, through ordered_rw alone with its
// defaults. Before (issue 18), its per-series state grew with every series: 1.71 GB peak RSS. Now
// the state stops at max_tracked_series (1,000,000): the samples of the series beyond it are
// dropped and counted, and the peak RSS is that of 1M series. Run it with ORDERED_RW_5M=1 (see
// BENCHMARKS.md).
func TestFiveMillionNewSeries(t *testing.T) {
	if os.Getenv(envFiveMillion) == "" {
		t.Skipf("%s=1 runs it (about a minute; BENCHMARKS.md)", envFiveMillion)
	}
	fleettest.CollectorBinary(t)
	const (
		total      = 5_000_000
		perRequest = 10_000
		senders    = 4
		capSeries  = 1_000_000
	)
	var received atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(backend.Close)
	otlpPort := fleettest.FreePort(t)
	otlp := fmt.Sprintf("127.0.0.1:%d", otlpPort)
	col := fleettest.StartCollector(t, scaleConfig, "OTLP_PORT="+strconv.Itoa(otlpPort), "RW_URL="+backend.URL+"/api/v1/write")
	idle := peakRSS(t, col.Pid())
	// The self-telemetry StartCollector waits for is served before the receivers listen.
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", otlp)
		if err == nil {
			_ = conn.Close()
		}
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				first := int(next.Add(perRequest)) - perRequest
				if first >= total {
					return
				}
				md := pmetric.NewMetrics()
				rm := md.ResourceMetrics().AppendEmpty()
				rm.Resource().Attributes().PutStr("service.name", "scale")
				m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
				m.SetName("scale_gauge")
				dps := m.SetEmptyGauge().DataPoints()
				ts := pcommon.NewTimestampFromTime(time.Now())
				for i := first; i < first+perRequest; i++ {
					dp := dps.AppendEmpty()
					dp.Attributes().PutStr("series", strconv.Itoa(i))
					dp.SetTimestamp(ts)
					dp.SetDoubleValue(float64(i))
				}
				fleettest.SendOTLP(t, otlp, md)
			}
		}()
	}
	wg.Wait()
	sentIn := time.Since(start)

	var m map[string]float64
	require.Eventually(t, func() bool {
		m = col.Metrics(t)
		done := fleettest.Sum(m, "otelcol_exporter_ordered_rw_sent_samples", nil) +
			fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", nil)
		return done >= total
	}, 2*time.Minute, time.Second, "every sample is delivered or counted")
	peak := peakRSS(t, col.Pid())
	tracked := fleettest.Sum(m, "otelcol_exporter_ordered_rw_tracked_series", nil)
	sent := fleettest.Sum(m, "otelcol_exporter_ordered_rw_sent_samples", nil)
	overCap := fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": "max_tracked_series"})
	refused := fleettest.Sum(m, "otelcol_exporter_ordered_rw_refused_samples", nil)
	t.Logf("%d new series sent in %s; delivered %.0f, dropped max_tracked_series %.0f, refused %.0f; tracked %.0f; peak RSS %.0f MiB (idle %.0f MiB), %.0f B per tracked series above idle; backend received %d MB",
		total, sentIn.Round(time.Second), sent, overCap, refused, tracked, float64(peak)/(1<<20), float64(idle)/(1<<20),
		float64(peak-idle)/tracked, received.Load()>>20)

	assert.LessOrEqual(t, tracked, float64(capSeries), "the state stops at max_tracked_series")
	assert.Equal(t, float64(total), sent+overCap, "every sample is delivered or counted max_tracked_series")
	assert.Less(t, peak, int64(1_000<<20), "peak RSS stays under 1,000 MiB (1.71 GB before the cap)")
}
