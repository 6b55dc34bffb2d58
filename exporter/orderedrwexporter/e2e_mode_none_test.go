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
// `storage.tsdb.out_of_order_time_window: 60s`), two gateways in mode none behind round-robin,
// each given alternate samples of the same 1,000 series, one of them 1.5 s late. Nothing is
// lost, nothing is held, and a push is visible in Prometheus well within the 5 s a hold-back
// window would have added.
func TestModeNoneWithOutOfOrderWindow(t *testing.T) {
	fleettest.CollectorBinary(t)
	const numSeries, steps = 1000, 12
	prom := fleettest.StartPrometheusWithOutOfOrderWindow(t, 60*time.Second)
	gws := []gateway{
		startGateway(t, prom.RemoteWriteURL(), "none", "a", 200*time.Millisecond),
		startGateway(t, prom.RemoteWriteURL(), "none", "b", 200*time.Millisecond),
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

	match := fmt.Sprintf(`{__name__=%q}`, e2eMetric)
	require.Eventually(t, func() bool {
		return prom.CountSamples(t, match, 10*time.Minute) >= numSeries*steps
	}, 60*time.Second, 200*time.Millisecond, "Prometheus should end with every sample")

	// Latency: one more push to each gateway, timed from the push to the query that sees it.
	var worst time.Duration
	for i, gw := range gws {
		step := steps + i
		ts := time.Now()
		fleettest.SendOTLP(t, gw.otlp, batch(numSeries, step, ts, false))
		sent := time.Now()
		require.Eventually(t, func() bool {
			return prom.CountSamples(t, match, 10*time.Minute) >= numSeries*(step+1)
		}, 30*time.Second, 20*time.Millisecond)
		delay := time.Since(sent)
		t.Logf("gateway %d: push visible in Prometheus after %s (batch timeout 200ms)", i, delay.Round(time.Millisecond))
		worst = max(worst, delay)
	}
	// A hold-back window of 5 s (the default) would make it at least 5 s.
	assert.Less(t, worst, 2*time.Second, "no hold-back latency")

	stored := prom.Samples(t, match, 10*time.Minute)
	require.Len(t, stored, numSeries)
	for key, samples := range stored {
		require.Len(t, samples, steps+len(gws), "every sample stored exactly once: %s", key)
	}
	for i := 0; i < numSeries; i += 97 {
		key := fmt.Sprintf(`{__name__=%q,instance="app-1",job="e2e",series=%q}`, e2eMetric, strconv.Itoa(i))
		require.Contains(t, stored, key)
		for step := range steps {
			require.Equal(t, float64(i*1000+step), stored[key][start.Add(time.Duration(step)*time.Second).UnixMilli()], "%s at step %d", key, step)
		}
	}
	// The window did the work: gateway b's samples were older than a's newer ones, and stored.
	assert.Positive(t, prom.MetricValue(t, "prometheus_tsdb_head_out_of_order_samples_appended_total", nil),
		"the test must make samples arrive out of order")
	assert.Zero(t, prom.MetricValue(t, "prometheus_tsdb_out_of_order_samples_total", nil), "Prometheus rejected samples out of order")
	var sent float64
	for _, gw := range gws {
		m := gw.collector.Metrics(t)
		assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", nil), "dropped samples:\n%v", m)
		assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_released_samples", nil), "nothing goes through hold-back")
		assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_hold_latency_count", nil))
		assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_held_samples", nil))
		sent += fleettest.Sum(m, "otelcol_exporter_ordered_rw_sent_samples", nil)
	}
	assert.Equal(t, float64(numSeries*(steps+len(gws))), sent)
}
