package seriesguardprocessor_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

const overheadConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  series_guard:
    series_limits:
      max_series: 1000000
      max_series_per_metric: 100000
exporters:
  prometheus_remote_write:
    endpoint: ${env:RW_URL}
    target_info:
      enabled: false
extensions:
  pprof:
    endpoint: 127.0.0.1:${env:PPROF_PORT}
service:
  extensions: [pprof]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [PROCESSORS]
      exporters: [prometheus_remote_write]
`

// cpuTime is the user+system CPU time a process used so far (Linux /proc).
func cpuTime(t *testing.T, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// TestEndToEndOverhead measures the CPU time of two collectors, one with series_guard and one
// without, doing the same work: OTLP in, remote write to a real Prometheus, batches of 1,000
// gauge points with 10 attributes, series admitted. It is a measurement, not a check: run it
// with SERIES_GUARD_OVERHEAD=1 on a quiet machine.
func TestEndToEndOverhead(t *testing.T) {
	if os.Getenv("SERIES_GUARD_OVERHEAD") != "1" {
		t.Skip("a measurement: set SERIES_GUARD_OVERHEAD=1 to run it")
	}
	prom := fleettest.StartPrometheus(t)
	type pipeline struct {
		name     string
		col      *fleettest.Collector
		endpoint string
		cpu      time.Duration
	}
	var pipelines []*pipeline
	for _, processors := range []string{"", "series_guard"} {
		port, pprofPort := fleettest.FreePort(t), fleettest.FreePort(t)
		col := fleettest.StartCollector(t, strings.Replace(overheadConfig, "PROCESSORS", processors, 1),
			fmt.Sprintf("OTLP_PORT=%d", port), fmt.Sprintf("PPROF_PORT=%d", pprofPort), "RW_URL="+prom.RemoteWriteURL())
		t.Logf("%s: pprof on 127.0.0.1:%d", processors, pprofPort)
		pipelines = append(pipelines, &pipeline{name: "[" + processors + "]", col: col, endpoint: fmt.Sprintf("127.0.0.1:%d", port)})
	}
	rounds := 10
	if r, err := strconv.Atoi(os.Getenv("SERIES_GUARD_OVERHEAD_ROUNDS")); err == nil {
		rounds = r
	}
	const batches, points = 20, 1000
	start := time.Now().Add(-time.Hour)
	step := 0
	for range rounds {
		for _, p := range pipelines { // alternate, so that drift in machine load hits both alike
			before := cpuTime(t, p.col.Pid())
			for b := range batches {
				fleettest.SendOTLP(t, p.endpoint, overheadBatch(p.name, start.Add(time.Duration(step+b)*time.Second), points))
			}
			want := float64(points * batches)
			require.Eventually(t, func() bool {
				return fleettest.Sum(p.col.Metrics(t), "otelcol_exporter_sent_metric_points", nil) >= want*float64(step/batches/2+1)
			}, time.Minute, 20*time.Millisecond)
			p.cpu += cpuTime(t, p.col.Pid()) - before
		}
		step += batches * 2
	}
	without, with := pipelines[0].cpu, pipelines[1].cpu
	t.Logf("CPU for %d points: without series_guard %s, with %s: overhead %.1f%%",
		rounds*batches*points, without, with, 100*(float64(with)-float64(without))/float64(without))
}

func overheadBatch(pipeline string, ts time.Time, n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "overhead"+pipeline)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("overhead.load")
	dps := m.SetEmptyGauge().DataPoints()
	for i := range n {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(float64(i))
		a := dp.Attributes()
		for j := range 9 {
			a.PutStr(fmt.Sprintf("attribute.%d", j), fmt.Sprintf("value-%d", j))
		}
		a.PutStr("series", strconv.Itoa(i))
	}
	return md
}
