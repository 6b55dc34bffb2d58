package orderedrwexporter_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// gatewayConfig is a gateway of the guide's architecture: OTLP in, a batch processor whose
// timeout sets how late this gateway's samples are, ordered_rw out.
const gatewayConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  batch:
    timeout: ${env:BATCH_TIMEOUT}
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 500ms
    remote_write_queue:
      num_consumers: 4
    ordering:
      mode: ${env:MODE}
      stamp:
        value: ${env:GW}
      holdback:
        window: 5s
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [ordered_rw]
`

// upstreamConfig is the same gateway with the stock exporter, for contrast.
const upstreamConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  batch:
    timeout: ${env:BATCH_TIMEOUT}
exporters:
  prometheus_remote_write:
    endpoint: ${env:RW_URL}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [prometheus_remote_write]
`

type gateway struct {
	collector *fleettest.Collector
	otlp      string
}

func startGateway(t *testing.T, rwURL, mode, name string, batchTimeout time.Duration) gateway {
	t.Helper()
	port := fleettest.FreePort(t)
	config := gatewayConfig
	if mode == "upstream" {
		config = upstreamConfig
	}
	c := fleettest.StartCollector(t, config,
		"OTLP_PORT="+strconv.Itoa(port), "RW_URL="+rwURL, "MODE="+mode, "GW="+name,
		"BATCH_TIMEOUT="+batchTimeout.String())
	return gateway{collector: c, otlp: fmt.Sprintf("127.0.0.1:%d", port)}
}

const e2eMetric = "e2e_gauge"

// batch is one sample of each of numSeries series at ts; value = series*1000 + step, so every
// stored sample can be checked. With attrs the resource makes the exporter emit target_info.
func batch(numSeries, step int, ts time.Time, attrs bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "e2e")
	rm.Resource().Attributes().PutStr("service.instance.id", "app-1")
	if attrs {
		rm.Resource().Attributes().PutStr("host.name", "node-1")
		rm.Resource().Attributes().PutStr("deployment.environment", "test")
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(e2eMetric)
	dps := m.SetEmptyGauge().DataPoints()
	for i := range numSeries {
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("series", strconv.Itoa(i))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(float64(i*1000 + step))
	}
	return md
}

// faultyProxy forwards remote-write requests to Prometheus, but answers every 4th with 503 and
// drops the connection of every 7th, so that the exporters retry.
func faultyProxy(t *testing.T, target string) (url string, faults func() int) {
	var mu sync.Mutex
	n, injected := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		k := n
		if k%4 == 0 || k%7 == 0 {
			injected++
		}
		mu.Unlock()
		switch {
		case k%4 == 0:
			http.Error(w, "injected", http.StatusServiceUnavailable)
			return
		case k%7 == 0:
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/v1/write", func() int { mu.Lock(); defer mu.Unlock(); return injected }
}

// TestTwoGatewaysAlternateSamples is the guide's two-gateway case: behind a round-robin balancer
// each of two gateways gets every other sample of the same 1,000 series, one of them 1.5 s late. With hold-back, a real Prometheus stores every sample exactly once and rejects none,
// with and without target_info, and with retries induced and several senders per gateway.
func TestTwoGatewaysAlternateSamples(t *testing.T) {
	fleettest.CollectorBinary(t)
	const numSeries, steps = 1000, 12
	for _, tc := range []struct {
		name     string
		attrs    bool
		faults   bool
		upstream bool
	}{
		{name: "no_target_info"},
		{name: "target_info", attrs: true},
		{name: "target_info_with_retries", attrs: true, faults: true},
		// The same traffic through the stock exporter loses samples: the case is real.
		{name: "upstream_prometheus_remote_write_loses", attrs: true, upstream: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prom := fleettest.StartPrometheus(t)
			rwURL := prom.RemoteWriteURL()
			faults := func() int { return 0 }
			if tc.faults {
				rwURL, faults = faultyProxy(t, prom.RemoteWriteURL())
			}
			mode := "holdback"
			if tc.upstream {
				mode = "upstream"
			}
			gws := []gateway{
				startGateway(t, rwURL, mode, "a", 200*time.Millisecond),
				startGateway(t, rwURL, mode, "b", 200*time.Millisecond),
			}
			// Samples 1 s apart; the balancer gives even steps to gateway a at once and odd steps
			// to gateway b 1.5 s late (its upstream path is slower), so b's sample of a series
			// arrives after a's newer one: without ordering, b's requests are rejected.
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
				ts := start.Add(time.Duration(s.step) * time.Second)
				fleettest.SendOTLP(t, gws[s.step%2].otlp, batch(numSeries, s.step, ts, tc.attrs))
			}

			match := fmt.Sprintf(`{__name__=%q}`, e2eMetric)
			if tc.upstream {
				require.Eventually(t, func() bool {
					var done float64
					for _, gw := range gws {
						m := gw.collector.Metrics(t)
						done += fleettest.Sum(m, "otelcol_exporter_sent_metric_points", nil) + fleettest.Sum(m, "otelcol_exporter_send_failed_metric_points", nil)
					}
					return done >= numSeries*steps
				}, 30*time.Second, 500*time.Millisecond, "the stock exporters should finish")
				stored := prom.CountSamples(t, match, 10*time.Minute)
				t.Logf("stock exporter: %d of %d samples stored", stored, numSeries*steps)
				assert.Less(t, stored, numSeries*steps)
				assert.Positive(t, prom.MetricValue(t, "prometheus_tsdb_out_of_order_samples_total", nil),
					"the out-of-order counter the ordered_rw cases assert zero on does count these rejections")
				return
			}
			require.Eventually(t, func() bool {
				return prom.CountSamples(t, match, 10*time.Minute) >= numSeries*steps
			}, 60*time.Second, 500*time.Millisecond, "Prometheus should end with every sample")

			stored := prom.Samples(t, match, 10*time.Minute)
			require.Len(t, stored, numSeries)
			for key, samples := range stored {
				require.Len(t, samples, steps, "every sample stored exactly once: %s", key)
			}
			for i := 0; i < numSeries; i += 97 {
				key := fmt.Sprintf(`{__name__=%q,instance="app-1",job="e2e",series=%q}`, e2eMetric, strconv.Itoa(i))
				require.Contains(t, stored, key)
				for step := range steps {
					ts := start.Add(time.Duration(step) * time.Second).UnixMilli()
					require.Equal(t, float64(i*1000+step), stored[key][ts], "%s at step %d", key, step)
				}
			}
			if tc.attrs {
				info := prom.Samples(t, `{__name__="target_info"}`, 10*time.Minute)
				require.Len(t, info, 1, "one target_info series, written by both gateways")
				for _, samples := range info {
					assert.NotEmpty(t, samples)
				}
			}
			assert.Zero(t, prom.MetricValue(t, "prometheus_tsdb_out_of_order_samples_total", nil), "Prometheus rejected samples out of order")
			var sent float64
			for _, gw := range gws {
				m := gw.collector.Metrics(t)
				assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", nil), "dropped samples:\n%v", m)
				sent += fleettest.Sum(m, "otelcol_exporter_ordered_rw_sent_samples", nil)
				// Everything went through hold-back and left on time; nothing is still held.
				assert.Equal(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_sent_samples", nil),
					fleettest.Sum(m, "otelcol_exporter_ordered_rw_released_samples", map[string]string{"reason": "on_time"}))
				assert.Positive(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_hold_latency_count", nil))
				assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_held_samples", nil))
			}
			assert.GreaterOrEqual(t, sent, float64(numSeries*steps))
			if tc.faults {
				assert.Positive(t, faults(), "faults were injected")
			}
			t.Logf("%s: %d samples stored, %d faults injected", tc.name, prom.CountSamples(t, match, 10*time.Minute), faults())
		})
	}
}

// TestOneStaleSampleCostsOneSample: gateway b sends a batch of 1,000 samples of which one is
// older than what gateway a already stored for its series. Prometheus rejects that request whole;
// the exporter splits it and only the one sample is lost, counted with reason out_of_order.
func TestOneStaleSampleCostsOneSample(t *testing.T) {
	fleettest.CollectorBinary(t)
	prom := fleettest.StartPrometheus(t)
	// The same stamp on both and no hold-back: the two write the same series, uncoordinated.
	gwA := startGateway(t, prom.RemoteWriteURL(), "stamp", "same", 100*time.Millisecond)
	gwB := startGateway(t, prom.RemoteWriteURL(), "stamp", "same", 100*time.Millisecond)
	const numSeries = 1000
	t1 := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	t2 := t1.Add(time.Second)

	fleettest.SendOTLP(t, gwA.otlp, batch(1, 2, t2, false)) // series 0 at t2
	match := fmt.Sprintf(`{__name__=%q}`, e2eMetric)
	require.Eventually(t, func() bool { return prom.CountSamples(t, match, 10*time.Minute) == 1 }, 30*time.Second, 200*time.Millisecond)

	fleettest.SendOTLP(t, gwB.otlp, batch(numSeries, 1, t1, false)) // series 0 at t1 is out of order
	require.Eventually(t, func() bool {
		return fleettest.Sum(gwB.collector.Metrics(t), "otelcol_exporter_ordered_rw_dropped_samples", nil) >= 1
	}, 30*time.Second, 200*time.Millisecond)
	require.Eventually(t, func() bool {
		return prom.CountSamples(t, match, 10*time.Minute) == numSeries
	}, 30*time.Second, 200*time.Millisecond, "999 samples of gateway b and the one of gateway a")

	m := gwB.collector.Metrics(t)
	assert.Equal(t, 1.0, fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": "out_of_order"}))
	assert.Equal(t, 1.0, fleettest.Sum(m, "otelcol_exporter_ordered_rw_dropped_samples", nil))
	assert.Equal(t, float64(numSeries-1), fleettest.Sum(m, "otelcol_exporter_ordered_rw_sent_samples", nil))
	assert.Positive(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_request_splits", nil))
	assert.Contains(t, gwB.collector.Logs(), "Samples were dropped; the backend rejected each of them, and every other sample of their requests was delivered.")
}

// TestSigV4Auth: `auth: {authenticator: sigv4auth}` works as with the stock exporter; requests
// to AMP are signed (checked here against a loopback server that records the headers).
func TestSigV4Auth(t *testing.T) {
	fleettest.CollectorBinary(t)
	var mu sync.Mutex
	var auth, amzDate, encoding string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth, amzDate, encoding = r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), r.Header.Get("Content-Encoding")
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	port := fleettest.FreePort(t)
	c := fleettest.StartCollector(t, `
extensions:
  sigv4auth:
    region: us-east-1
    service: aps
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
    auth:
      authenticator: sigv4auth
    ordering:
      mode: stamp
service:
  extensions: [sigv4auth]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`, "OTLP_PORT="+strconv.Itoa(port), "RW_URL="+srv.URL+"/workspaces/ws-test/api/v1/remote_write")
	fleettest.SendOTLP(t, fmt.Sprintf("127.0.0.1:%d", port), batch(3, 0, time.Now(), false))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return auth != ""
	}, 30*time.Second, 100*time.Millisecond, "a request reaches the backend:\n%s", c.Logs())
	mu.Lock()
	defer mu.Unlock()
	t.Logf("Authorization: %s", auth)
	assert.Contains(t, auth, "AWS4-HMAC-SHA256 Credential=dummy/")
	assert.Contains(t, auth, "/us-east-1/aps/aws4_request")
	assert.NotEmpty(t, amzDate)
	assert.Equal(t, "snappy", encoding)
}
