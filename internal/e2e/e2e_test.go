package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
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

// gatewayEnv gives each gateway its own fleet_health listener so readiness can be read.
func gatewayEnv(t *testing.T, mode string) []Gateway {
	gws := twoGateways("gateway.yaml", "FLEET_ORDERING_MODE="+mode)
	for i := range gws {
		gws[i].Env = append(gws[i].Env, "FLEET_HEALTH_ENDPOINT=127.0.0.1:"+strconv.Itoa(fleettest.FreePort(t)))
	}
	return gws
}

// TestOrderedGateways is scenarios 1 and 2: ordered_rw in holdback and in stamp mode, with and
// without resource attributes that make every gateway write target_info. Zero out-of-order
// rejections, every sample stored exactly once.
func TestOrderedGateways(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		extra map[string]string
	}{
		{"holdback", nil},
		{"holdback", map[string]string{"host.name": "node-a", "cloud.region": "us-west-2"}},
		{"stamp", map[string]string{"host.name": "node-a"}},
	} {
		name := tc.mode
		if tc.extra != nil {
			name += "+target_info"
		}
		t.Run(name, func(t *testing.T) {
			s := Start(t, Options{Gateways: gatewayEnv(t, tc.mode), Agents: 1})
			gen := newLoad("fleet_e2e_"+strings.ReplaceAll(name, "+", "_"), tc.extra)
			oo := s.OutOfOrderTotal()
			s.Send(gen, scenarioSteps, nil)
			s.Drain(3*time.Second, time.Minute)
			r := s.Collect("ordered_rw "+name, gen, scenarioSteps, oo)
			Table(os.Stdout, r)

			assert.Zero(t, r.OutOfOrder, "Prometheus rejected out-of-order samples")
			if !assert.Zero(t, r.Missing, "samples missing") {
				s.DumpLogs(os.Stdout)
			}
			assert.Zero(t, r.Wrong+r.Unexpected, "wrong or unexpected samples")
			assert.Zero(t, r.Duplicates, "samples stored twice")
			for node, state := range r.Ready {
				if strings.HasPrefix(node, "gateway") {
					assert.Equal(t, "ready", state, node)
				}
			}
			if tc.mode == "stamp" {
				gws := map[string]bool{}
				for _, ser := range s.Prom.Series(t, gen.Config().Metric) {
					gws[ser["collector_gateway"]] = true
				}
				assert.Equal(t, map[string]bool{"gateway-1": true, "gateway-2": true}, gws, "each sample under its gateway's label")
			}
		})
	}
}
