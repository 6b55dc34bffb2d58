package orderedrwexporter_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// sendingConfig is one collector writing to a test backend with one shard, so that one push is
// one request and the request counts below are exact.
const sendingConfig = `
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
    remote_write_queue:
      num_consumers: 1
    ordering:
      mode: ${env:MODE}
      holdback:
        window: 2s
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`

func startSender(t *testing.T, backend *promtest.Backend, mode string) (*fleettest.Collector, string) {
	t.Helper()
	port := fleettest.FreePort(t)
	c := fleettest.StartCollector(t, sendingConfig, "OTLP_PORT="+strconv.Itoa(port), "RW_URL="+backend.URL(), "MODE="+mode)
	return c, fmt.Sprintf("127.0.0.1:%d", port)
}

func dropped(t *testing.T, c *fleettest.Collector, reason string) float64 {
	return fleettest.Sum(c.Metrics(t), "otelcol_exporter_ordered_rw_dropped_samples", map[string]string{"reason": reason})
}

// A 400 that names no sample: the request is dropped whole, counted with reason rejected, never
// resent and never split (remote write 1.0: MUST NOT retry a 4xx other than 429); the warnings
// say so, and do not claim the rest of the request was delivered.
func TestGenericBadRequestIsDroppedNotResent(t *testing.T) {
	fleettest.CollectorBinary(t)
	backend := promtest.NewBackend(t)
	backend.AnswerAlways(&promtest.Answer{Status: http.StatusBadRequest, Body: "bad request"})
	c, otlp := startSender(t, backend, "stamp")
	fleettest.SendOTLP(t, otlp, batch(10, 0, time.Now(), false))
	require.Eventually(t, func() bool { return dropped(t, c, "rejected") == 10 }, 30*time.Second, 100*time.Millisecond)
	assert.Equal(t, 1, backend.Requests(), "one request, not resent, not split")
	m := c.Metrics(t)
	assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_request_splits", nil))
	assert.Zero(t, fleettest.Sum(m, "otelcol_exporter_ordered_rw_sent_samples", nil))
	require.Eventually(t, func() bool { return containsAll(c.Logs(), "Samples were dropped.", "Remote write request refused") },
		15*time.Second, 100*time.Millisecond, "the drop and the refusal are logged:\n%s", c.Logs())
	assert.NotContains(t, c.Logs(), "every other sample of their requests was delivered")
}

// AMP's quota answer to every request: no split storm. 2,000 samples in one request cost one
// request (the issue measured 3,995 before), counted dropped with reason limits.
func TestQuotaBadRequestCausesBoundedRequests(t *testing.T) {
	fleettest.CollectorBinary(t)
	backend := promtest.NewBackend(t)
	backend.AnswerAlways(&promtest.Answer{Status: http.StatusBadRequest,
		Body: "user=123456789012_ws-e2e: per-user series limit of 1000 exceeded, please contact administrator to raise it. " +
			"(local limit: 1000 global limit: 1000 actual local limit: 1000)"})
	c, otlp := startSender(t, backend, "stamp")
	fleettest.SendOTLP(t, otlp, batch(2000, 0, time.Now(), false))
	require.Eventually(t, func() bool { return dropped(t, c, "limits") == 2000 }, 30*time.Second, 100*time.Millisecond)
	t.Logf("2,000 samples answered with the quota 400: %d requests", backend.Requests())
	assert.LessOrEqual(t, backend.Requests(), 1+2*transport.MaxSplits, "the stated bound")
	assert.Equal(t, 1, backend.Requests(), "a quota answer is not split at all")
}

// A 500 on the first request is retried until delivered: while running, and for a request first
// sent during the shutdown (held samples released by it), which the collector then waits for and
// exits cleanly (fleettest fails the test on any other exit).
func TestServerErrorOnFirstRequestIsDelivered(t *testing.T) {
	fleettest.CollectorBinary(t)
	for _, tc := range []struct {
		name     string
		mode     string
		shutdown bool
	}{
		{name: "running", mode: "stamp"},
		{name: "during_shutdown", mode: "holdback", shutdown: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := promtest.NewBackend(t)
			backend.Script(promtest.Answer{Status: http.StatusInternalServerError, Body: "internal error"})
			c, otlp := startSender(t, backend, tc.mode)
			fleettest.SendOTLP(t, otlp, batch(10, 0, time.Now(), false))
			if tc.shutdown {
				// Held for the 2 s window: nothing sent yet when the shutdown begins.
				require.Zero(t, backend.Requests())
				c.Stop(t)
				assert.Contains(t, c.Logs(), "Releasing held samples on their schedule before shutting down.")
			}
			require.Eventually(t, func() bool { return backend.StoredCount() == 10 }, 30*time.Second, 100*time.Millisecond,
				"delivered after the 500:\n%s", c.Logs())
			assert.Equal(t, 2, backend.Requests(), "the 500 and its retry")
			assert.Contains(t, c.Logs(), `"status": 500`, "the failed attempt is logged")
			assert.NotContains(t, c.Logs(), "could not be delivered")
		})
	}
}

// 429 with Retry-After: 3 is retried, and not before 3 s, though retry_on_failure asks for 50 ms.
func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	fleettest.CollectorBinary(t)
	backend := promtest.NewBackend(t)
	backend.Script(promtest.Answer{Status: http.StatusTooManyRequests, Body: "throttled", RetryAfter: "3"})
	_, otlp := startSender(t, backend, "stamp")
	fleettest.SendOTLP(t, otlp, batch(10, 0, time.Now(), false))
	require.Eventually(t, func() bool { return backend.StoredCount() == 10 }, 30*time.Second, 100*time.Millisecond)
	times := backend.RequestTimes()
	require.Len(t, times, 2)
	t.Logf("retried %s after the 429", times[1].Sub(times[0]))
	assert.GreaterOrEqual(t, times[1].Sub(times[0]), 3*time.Second)
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
