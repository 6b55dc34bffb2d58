package orderedrwexporter_test

import (
	"fmt"
	"io"
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

// scaleConfig is ordered_rw alone, with its defaults but max_tracked_series, writing to a backend
// that accepts everything.
const scaleConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
    ordering:
      max_tracked_series: ${env:MAX_TRACKED}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`

// statusBytes is a memory figure of pid from /proc/<pid>/status: VmHWM (the peak resident
// memory) or VmRSS (now).
func statusBytes(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(field + `:\s+(\d+) kB`).FindSubmatch(b)
	require.NotNil(t, m)
	kb, err := strconv.ParseInt(string(m[1]), 10, 64)
	require.NoError(t, err)
	return kb << 10
}

// TestFiveMillionNewSeries: 5,000,000 new series, one sample each, through ordered_rw alone with its
// defaults. Before (issue 18), its per-series state grew with every series: 1.71 GB peak RSS. Now
// the state stops at max_tracked_series (1,000,000): the samples of the series beyond it are
// dropped and counted. For comparison, the same load with the cap out of reach (10M). Run it with
// ORDERED_RW_5M=1 (see BENCHMARKS.md).
func TestFiveMillionNewSeries(t *testing.T) {
	if os.Getenv(envFiveMillion) == "" {
		t.Skipf("%s=1 runs it (about a minute; BENCHMARKS.md)", envFiveMillion)
	}
	fleettest.CollectorBinary(t)
	const total, capSeries = 5_000_000, 1_000_000
	t.Run("default cap", func(t *testing.T) {
		r := runNewSeries(t, total, capSeries)
		assert.LessOrEqual(t, r.tracked, float64(capSeries), "the state stops at max_tracked_series")
		assert.Equal(t, float64(total), r.sent+r.overCap, "every sample is delivered or counted max_tracked_series")
		assert.Less(t, r.peak, int64(1_200<<20), "peak RSS stays well under the 1.71 GB of 5M tracked series")
	})
	t.Run("cap out of reach", func(t *testing.T) {
		r := runNewSeries(t, total, 10_000_000)
		assert.Equal(t, float64(total), r.sent, "every sample is delivered")
	})
}

type scaleRun struct {
	tracked, sent, overCap float64
	peak                   int64
}

// runNewSeries sends total new series, one sample each, in requests of 10,000 from 4 senders, to
// ordered_rw alone with max_tracked_series maxTracked, and waits until each sample is delivered
// or counted.
func runNewSeries(t *testing.T, total, maxTracked int) scaleRun {
	const (
		perRequest = 10_000
		senders    = 4
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
	col := fleettest.StartCollector(t, scaleConfig, "OTLP_PORT="+strconv.Itoa(otlpPort), "RW_URL="+backend.URL+"/api/v1/write",
		"MAX_TRACKED="+strconv.Itoa(maxTracked))
	idle := statusBytes(t, col.Pid(), "VmHWM")
	waitListening(t, otlp)

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
		return done >= float64(total)
	}, 3*time.Minute, time.Second, "every sample is delivered or counted")
	r := scaleRun{
		peak:    statusBytes(t, col.Pid(), "VmHWM"),
		tracked: fleettest.Sum(m, "otelcol_exporter_ordered_rw_tracked_series", nil),
		sent:    fleettest.Sum(m, "otelcol_exporter_ordered_rw_sent_samples", nil),
		overCap: fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": "max_tracked_series"}),
	}
	time.Sleep(5 * time.Second) // a few GC cycles: what stays
	after := statusBytes(t, col.Pid(), "VmRSS")
	refused := fleettest.Sum(m, "otelcol_exporter_ordered_rw_refused_samples", nil)
	t.Logf("max_tracked_series %d: %d new series sent in %s; delivered %.0f, dropped max_tracked_series %.0f, refused %.0f; tracked %.0f; "+
		"RSS idle %.0f MiB, peak %.0f MiB, 5 s after %.0f MiB (%.0f B per tracked series above idle); backend received %d MB",
		maxTracked, total, sentIn.Round(time.Second), r.sent, r.overCap, refused, r.tracked, float64(idle)/(1<<20), float64(r.peak)/(1<<20),
		float64(after)/(1<<20), float64(after-idle)/r.tracked, received.Load()>>20)
	return r
}
