package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/loadgen"
)

// scenarioLoad is what every two-gateway scenario sends: 1,000 series, one sample a second.
const (
	scenarioSeries = 1000
	scenarioSteps  = 20
)

func newLoad(metric string, extra map[string]string) *loadgen.Generator {
	return loadgen.New(loadgen.Config{
		Metric:                  metric,
		Series:                  scenarioSeries,
		Start:                   time.Now().Add(500 * time.Millisecond).Truncate(time.Millisecond),
		Interval:                time.Second,
		ServiceName:             "e2e",
		ExtraResourceAttributes: extra,
	})
}

// twoGateways is the guide's tier: batch timeouts differ, as under different load.
func twoGateways(config string, env ...string) []Gateway {
	return []Gateway{
		{Config: config, BatchTimeout: 200 * time.Millisecond, Env: env},
		{Config: config, BatchTimeout: 2 * time.Second, Env: env},
	}
}

// TestStockGatewaysLoseData is scenario 3: the stock prometheus_remote_write exporter behind a
// round-robin balancer. It is expected to lose data; the test proves the loss is real, measured
// on real parts, and that every lost sample was counted as failed by a gateway.
func TestStockGatewaysLoseData(t *testing.T) {
	s := Start(t, Options{Gateways: twoGateways("gateway-stock.yaml"), Agents: 1})
	gen := newLoad("fleet_e2e_stock", map[string]string{"host.name": "node-a"})
	oo := s.OutOfOrderTotal()
	s.Send(gen, scenarioSteps, nil)
	s.Drain(3*time.Second, time.Minute)
	r := s.Collect("stock prometheus_remote_write", gen, scenarioSteps, oo)
	Table(os.Stdout, r)

	assert.Positive(t, r.Missing, "the stock exporter behind a non-sticky balancer should lose samples")
	assert.Positive(t, r.OutOfOrder, "Prometheus should have rejected out-of-order samples")
	require.Zero(t, r.Unaccounted(), "samples went missing that no component counted")
	assert.Zero(t, r.Wrong)
}
