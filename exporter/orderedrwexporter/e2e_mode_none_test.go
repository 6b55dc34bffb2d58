package orderedrwexporter_test

import (
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// TestModeNoneWithOutOfOrderWindow is the case mode none is for: a store that accepts samples up
// to 60 s out of order (AMP's default since June 2026; here Prometheus 2.42 with
// `storage.tsdb.out_of_order_time_window: 60s`), two gateways behind round-robin, each given
// alternate samples of the same 1,000 series, one of them 1.5 s late. In mode none nothing is
// lost, nothing is held, and a push is visible in Prometheus well within the 5 s the default
// hold-back window adds. For contrast, measured on the same traffic: hold-back against the same
// store (no loss, the window's latency), and mode none against a store without a window (the
// late gateway's samples are rejected, each counted).
func TestModeNoneWithOutOfOrderWindow(t *testing.T) {
	fleettest.CollectorBinary(t)
	const numSeries, steps = 1000, 12
	const total = numSeries * steps
	for _, tc := range []struct {
		name      string
		mode      string
		oooWindow time.Duration
	}{
		{name: "none_window_60s", mode: "none", oooWindow: 60 * time.Second},
		{name: "holdback_window_60s", mode: "holdback", oooWindow: 60 * time.Second},
		{name: "none_no_window", mode: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prom *fleettest.Prometheus
			if tc.oooWindow > 0 {
				prom = fleettest.StartPrometheusWithOutOfOrderWindow(t, tc.oooWindow)
			} else {
				prom = fleettest.StartPrometheus(t)
			}
			gws := []gateway{
				startGateway(t, prom.RemoteWriteURL(), tc.mode, "a", 200*time.Millisecond),
				startGateway(t, prom.RemoteWriteURL(), tc.mode, "b", 200*time.Millisecond),
			}
			type send struct {
				at   time.Time
				step int
			}
			start := time.Now().Truncate(time.Second).Add(time.Second)
			var sends []send
			for step := range steps {
				ts := start.Add(time.Duration(step) * time.Second)
				sends = append(sends, send{at: ts.Add(time.Duration(step%2) * 1500 * time.Millisecond), step: step})
			}
			sort.Slice(sends, func(i, j int) bool { return sends[i].at.Before(sends[j].at) })
			for _, s := range sends {
				time.Sleep(time.Until(s.at)) // pacing the load, not synchronisation
				fleettest.SendOTLP(t, gws[s.step%2].otlp, batch(numSeries, s.step, start.Add(time.Duration(s.step)*time.Second), false))
			}
			// Every sample ends delivered or counted dropped.
			counted := func(name string, labels map[string]string) float64 {
				var n float64
				for _, gw := range gws {
					n += fleettest.Sum(gw.collector.Metrics(t), name, labels)
				}
				return n
			}
			require.Eventually(t, func() bool {
				return counted("otelcol_exporter_ordered_rw_sent_samples", nil)+counted("otelcol_exporter_ordered_rw_dropped_samples", nil) >= total
			}, 60*time.Second, 200*time.Millisecond, "every sample delivered or dropped")
			match := fmt.Sprintf(`{__name__=%q}`, e2eMetric)
			stored := prom.CountSamples(t, match, 10*time.Minute)
			dropped := counted("otelcol_exporter_ordered_rw_dropped_samples", nil)
			t.Logf("%s: %d of %d samples stored (%.1f%% lost), %v dropped (%v out_of_order)", tc.name, stored, total,
				100*float64(total-stored)/total, dropped, counted("otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": "out_of_order"}))
			assert.Equal(t, float64(total-stored), dropped, "every loss is counted")
			assert.Equal(t, float64(stored), counted("otelcol_exporter_sent_metric_points", nil), "the standard sent counts delivered samples")
			assert.Equal(t, dropped, counted("otelcol_exporter_send_failed_metric_points", nil), "the standard send_failed counts the rest")

			// Latency: one more push to each gateway, timed from the push to the query that sees it.
			// Polled on one series (all of a push's series share its requests): a cheap query.
			probe := fmt.Sprintf(`{__name__=%q,series="0"}`, e2eMetric)
			var worst time.Duration
			for i, gw := range gws {
				ts := time.Now()
				fleettest.SendOTLP(t, gw.otlp, batch(numSeries, steps+i, ts, false))
				sent := time.Now()
				require.Eventually(t, func() bool {
					for _, samples := range prom.Samples(t, probe, 10*time.Minute) {
						if _, ok := samples[ts.UnixMilli()]; ok {
							return true
						}
					}
					return false
				}, 30*time.Second, 20*time.Millisecond)
				delay := time.Since(sent)
				t.Logf("%s: gateway %d: push visible in Prometheus after %s (batch timeout 200ms)", tc.name, i, delay.Round(time.Millisecond))
				worst = max(worst, delay)
			}

			switch tc.name {
			case "none_window_60s":
				assert.Equal(t, total, stored, "nothing lost")
				// The window did the work: gateway b's samples were older than a's newer ones.
				assert.Positive(t, prom.MetricValue(t, "prometheus_tsdb_head_out_of_order_samples_appended_total", nil),
					"the test must make samples arrive out of order")
				// Measured about 0.2 s on an idle machine, 2.6 s with six test suites running on
				// two cores; what matters is below the 5 s the default window adds to every sample.
				assert.Less(t, worst, 5*time.Second, "no hold-back latency")
				for _, gw := range gws {
					m := gw.collector.Metrics(t)
					assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_released_samples", nil), "nothing goes through hold-back")
					assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_hold_latency_count", nil))
					assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_held_samples", nil))
				}
				checkValues(t, prom, start, numSeries, steps)
			case "holdback_window_60s":
				assert.Equal(t, total, stored, "nothing lost")
				assert.Greater(t, worst, 4*time.Second, "hold-back adds its window (5 s, counted from the timestamp, a little before the push)")
				checkValues(t, prom, start, numSeries, steps)
			case "none_no_window":
				assert.Less(t, stored, total, "without a window, the late gateway's samples are rejected")
				assert.Positive(t, counted("otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": "out_of_order"}))
			}
		})
	}
}

// checkValues: every sample of every step, stored once with its value, for a sample of series.
func checkValues(t *testing.T, prom *fleettest.Prometheus, start time.Time, numSeries, steps int) {
	t.Helper()
	for i := 0; i < numSeries; i += 97 {
		key := fmt.Sprintf(`{__name__=%q,instance="app-1",job="e2e",series=%q}`, e2eMetric, strconv.Itoa(i))
		samples := prom.Samples(t, key, 10*time.Minute)[key]
		for step := range steps {
			require.Equal(t, float64(i*1000+step), samples[start.Add(time.Duration(step)*time.Second).UnixMilli()], "%s at step %d", key, step)
		}
	}
}
