package orderedrwexporter_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// walGatewayConfig holds samples for 30 s, long enough that a restart happens while they are
// held, with a write-ahead log. No batch processor: each OTLP request the test sends is one push,
// accepted once it is in the log.
const walGatewayConfig = `
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
    ordering:
      holdback:
        window: 30s
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`

// TestWALRestart: a gateway holding samples is stopped (SIGTERM) or crashes (SIGKILL), then is
// started again on the same WAL directory. Every sample the first process accepted ends up in a
// real Prometheus, exactly once, with its value.
//
// Each case sends numSeries series at `delivered` old timestamps (past their window: sent at once,
// so the log holds entries that were already delivered) and at `held` current timestamps (held
// for the 30 s window), then stops the collector a moment later.
func TestWALRestart(t *testing.T) {
	fleettest.CollectorBinary(t)
	const numSeries, delivered, held = 500, 3, 4
	for _, tc := range []struct {
		name  string
		crash bool
	}{
		{name: "sigterm"},
		{name: "sigkill", crash: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prom := fleettest.StartPrometheus(t)
			walDir := t.TempDir()
			otlpPort := fleettest.FreePort(t)
			env := []string{"OTLP_PORT=" + strconv.Itoa(otlpPort), "RW_URL=" + prom.RemoteWriteURL(), "WAL_DIR=" + walDir}
			otlp := fmt.Sprintf("127.0.0.1:%d", otlpPort)
			match := fmt.Sprintf(`{__name__=%q}`, e2eMetric)

			first := fleettest.StartCollector(t, walGatewayConfig, env...)
			now := time.Now().Truncate(time.Second)
			var stamps []time.Time
			for step := range delivered + held {
				ts := now.Add(time.Duration(step-delivered) * time.Second)
				if step < delivered {
					ts = ts.Add(-2 * time.Minute) // older than the window: sent at once
				}
				stamps = append(stamps, ts)
				fleettest.SendOTLP(t, otlp, batch(numSeries, step, ts, false)) // accepted: in the log
			}
			require.Eventually(t, func() bool {
				return prom.CountSamples(t, match, 10*time.Minute) == numSeries*delivered
			}, 30*time.Second, 200*time.Millisecond, "the old samples are delivered at once")
			m := first.Metrics(t)
			require.Equal(t, float64(numSeries*held), fleettest.Sum(m, "otelcol_exporter_ordered_rw_held_samples", nil))
			require.Equal(t, float64(delivered+held), fleettest.Sum(m, "otelcol_exporter_ordered_rw_wal_written_entries", nil))

			if tc.crash {
				// The delivered entries (1 to 3) are done: the log's done mark, written every
				// second, moves past them to the first held entry.
				require.Eventually(t, func() bool {
					mark, err := os.ReadFile(filepath.Join(walDir, "ordered_rw", "DONE"))
					return err == nil && strings.TrimSpace(string(mark)) == strconv.Itoa(delivered+1)
				}, 10*time.Second, 100*time.Millisecond)
				first.Kill(t)
			} else {
				began := time.Now()
				first.Stop(t)
				assert.Less(t, time.Since(began), 15*time.Second, "the shutdown does not wait for the 30 s window")
				assert.Contains(t, first.Logs(), "kept in the write-ahead log")
				assert.Contains(t, first.Logs(), fmt.Sprintf(`"held_samples": %d`, numSeries*held))
			}
			assert.Equal(t, numSeries*delivered, prom.CountSamples(t, match, 10*time.Minute),
				"held samples were not flushed by the stop")

			second := fleettest.StartCollector(t, walGatewayConfig, env...)
			require.Eventually(t, func() bool {
				return prom.CountSamples(t, match, 10*time.Minute) >= numSeries*(delivered+held)
			}, 60*time.Second, 500*time.Millisecond, "every accepted sample ends up in Prometheus")

			stored := prom.Samples(t, match, 10*time.Minute)
			require.Len(t, stored, numSeries)
			for i := range numSeries {
				key := fmt.Sprintf(`{__name__=%q,instance="app-1",job="e2e",series=%q}`, e2eMetric, strconv.Itoa(i))
				require.Len(t, stored[key], delivered+held, "every sample stored exactly once: %s", key)
				for step, ts := range stamps {
					require.Equal(t, float64(i*1000+step), stored[key][ts.UnixMilli()], "%s at step %d", key, step)
				}
			}
			m = second.Metrics(t)
			replayed := fleettest.Sum(m, "otelcol_exporter_ordered_rw_wal_replayed_samples", nil)
			assert.GreaterOrEqual(t, replayed, float64(numSeries*held), "the held samples came back from the log")
			// The delivered entries were not truncated yet (truncate_frequency is 1m, and a crash
			// truncates nothing), but the done mark says they are done: they are not resent. (Before
			// the mark, their older samples were resent, rejected as out of order and counted
			// dropped although stored: 1,000 here.) A stop truncates them.
			dropped := fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", nil)
			outOfOrder := fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": "out_of_order"})
			assert.Zero(t, dropped, "nothing resent, nothing dropped:\n%v", m)
			assert.Equal(t, float64(numSeries*held), replayed, "only the held entries are replayed")
			t.Logf("%s: %d samples stored of %d accepted; %.0f replayed, %.0f resends rejected as out of order",
				tc.name, prom.CountSamples(t, match, 10*time.Minute), numSeries*(delivered+held), replayed, outOfOrder)
		})
	}
}
