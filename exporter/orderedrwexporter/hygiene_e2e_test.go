package orderedrwexporter_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// TestHugeLabelIsNotLogged: a series with a 19 MB label value, rejected by the backend. Before
// (issue 18), the drop log wrote the series whole: a 19.9 MB log line every 10 s. Now each label
// value in a log line is cut to 64 bytes with its size.
func TestHugeLabelIsNotLogged(t *testing.T) {
	fleettest.CollectorBinary(t)
	const huge = 19_000_000
	backend := promtest.NewBackend(t)
	backend.AnswerAlways(&promtest.Answer{Status: http.StatusBadRequest, Body: "bad request"})
	c, otlp := startSender(t, backend, "none")
	waitListening(t, otlp)
	md := batch(1, 0, time.Now(), false)
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes().PutStr("big", strings.Repeat("x", huge))
	fleettest.SendOTLP(t, otlp, md)
	require.Eventually(t, func() bool { return dropped(t, c, "rejected") == 1 }, 30*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(c.Logs(), "Samples were dropped.") }, 15*time.Second, 100*time.Millisecond)

	logs := c.Logs()
	longest := 0
	for _, line := range strings.Split(logs, "\n") {
		longest = max(longest, len(line))
	}
	assert.Less(t, longest, 4096, "no log line carries the label whole")
	// The console encoder escapes the quotes of the rendered series.
	assert.Contains(t, logs, `big=\"`+strings.Repeat("x", 64)+`…(19000000 bytes)\"`, "the drop log names the series, cut")
	t.Logf("a series with a %d-byte label rejected: longest log line %d bytes", huge, longest)
}

// TestInvalidMetricNamesAreCounted: metrics named "" and "_" next to a valid one. Before (issue
// 18), the translator left them out with only a debug log: they vanished uncounted. Now they are
// counted dropped{invalid_name} and logged; the valid metric is delivered.
func TestInvalidMetricNamesAreCounted(t *testing.T) {
	fleettest.CollectorBinary(t)
	backend := promtest.NewBackend(t)
	c, otlp := startSender(t, backend, "none")
	waitListening(t, otlp)
	md := batch(3, 0, time.Now(), false) // the valid metric: 3 samples
	metrics := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for _, name := range []string{"", "_"} {
		m := metrics.AppendEmpty()
		m.SetName(name)
		dps := m.SetEmptyGauge().DataPoints()
		for i := range 5 {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			dp.SetDoubleValue(float64(i))
		}
	}
	fleettest.SendOTLP(t, otlp, md)
	require.Eventually(t, func() bool { return dropped(t, c, "invalid_name") == 10 }, 30*time.Second, 100*time.Millisecond,
		"5 samples of each invalid name are counted")
	require.Eventually(t, func() bool { return backend.StoredCount() == 3 }, 30*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Contains(c.Logs(), "invalid_name") }, 15*time.Second, 100*time.Millisecond,
		"and logged")
}

// waitListening waits until the OTLP receiver accepts connections: StartCollector waits for the
// self-telemetry, which is served before the receivers start (a send right after it was refused
// on a loaded machine).
func waitListening(t *testing.T, endpoint string) {
	t.Helper()
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", endpoint)
		if err == nil {
			_ = conn.Close()
		}
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "the OTLP receiver listens on %s", endpoint)
}
