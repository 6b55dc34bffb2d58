package orderedrwexporter_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/promtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// shardsConfig is ordered_rw with the default queue (num_consumers 5) and, when SHARD_KEYS says
// so, min_shards set.
const shardsConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
    remote_write_queue:
      min_shards: ${env:MIN_SHARDS}
    ordering:
      mode: none
service:
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`

// A 10-sample push goes out as one request with the default configuration: the exporter starts
// with one shard (before, with one shard per num_consumers, it was spread over five). With
// min_shards 5 the same push is spread over the five shards again, so the key is honoured.
func TestSmallPushIsOneRequestOnTheBinary(t *testing.T) {
	fleettest.CollectorBinary(t)
	for _, tc := range []struct {
		minShards int
		requests  func(t *testing.T, n int)
	}{
		{minShards: 1, requests: func(t *testing.T, n int) { assert.Equal(t, 1, n, "one request for the push") }},
		{minShards: 5, requests: func(t *testing.T, n int) { assert.Greater(t, n, 1, "spread over the shards") }},
	} {
		t.Run(fmt.Sprintf("min_shards_%d", tc.minShards), func(t *testing.T) {
			backend := promtest.NewBackend(t)
			port := fleettest.FreePort(t)
			c := fleettest.StartCollector(t, shardsConfig, "OTLP_PORT="+strconv.Itoa(port), "RW_URL="+backend.URL(),
				"MIN_SHARDS="+strconv.Itoa(tc.minShards))
			fleettest.SendOTLP(t, fmt.Sprintf("127.0.0.1:%d", port), batch(10, 0, time.Now(), false))
			require.Eventually(t, func() bool { return backend.StoredCount() >= 10 }, 30*time.Second, 50*time.Millisecond)
			time.Sleep(500 * time.Millisecond) // nothing else is on its way
			t.Logf("min_shards %d: %d requests for %d samples", tc.minShards, backend.Requests(), backend.StoredCount())
			tc.requests(t, backend.Requests())
			assert.Equal(t, float64(tc.minShards), fleettest.Sum(c.Metrics(t), "otelcol_exporter_ordered_rw_shards", nil))
			assert.Contains(t, c.Logs(), `"min_shards": `+strconv.Itoa(tc.minShards))
		})
	}
}
