package e2e

import (
	"os"
	"strconv"
	"strings"
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
		{Config: config, BatchTimeout: 2300 * time.Millisecond, Env: env},
	}
}

// TestStockGatewaysLoseData is scenario 3: the stock prometheus_remote_write exporter behind a
// round-robin balancer. It is expected to lose data; the test proves the loss is real, measured
// on real parts, and that every lost sample was counted: as failed by a gateway (a request
// answered 400), or by Prometheus alone when it dropped the samples at commit and answered 204,
// which the stock exporter cannot see (PromCounts; TestPrometheusDropsAtCommitAreCounted).
func TestStockGatewaysLoseData(t *testing.T) {
	s := Start(t, Options{Gateways: twoGateways("gateway-stock.yaml"), Agents: 1})
	gen := newLoad("fleet_e2e_stock", map[string]string{"host.name": "node-a"})
	before := s.PromCounts()
	s.Send(scenarioSteps, nil, gen)
	s.Drain(3*time.Second, time.Minute)
	r := s.Collect("stock prometheus_remote_write", gen, scenarioSteps, before)
	Table(os.Stdout, r)

	assert.Positive(t, r.Missing, "the stock exporter behind a non-sticky balancer should lose samples")
	assert.Positive(t, r.OutOfOrder, "Prometheus should have rejected out-of-order samples")
	require.Zero(t, r.Unaccounted(), "samples went missing that no component counted")
	assert.Zero(t, r.Wrong)
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
			s := Start(t, Options{Gateways: twoGateways("gateway.yaml", "FLEET_ORDERING_MODE="+tc.mode), Agents: 1})
			gen := newLoad("fleet_e2e_"+strings.ReplaceAll(name, "+", "_"), tc.extra)
			before := s.PromCounts()
			s.Send(scenarioSteps, nil, gen)
			s.Drain(3*time.Second, time.Minute)
			r := s.Collect("ordered_rw "+name, gen, scenarioSteps, before)
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

// TestGatewayRestart is scenario 4: gateway-2 is stopped mid-run, as an orchestrator stops a
// pod (SIGTERM), and started again. Its readiness and the fleet view show it gone and back; the
// balancer moves its traffic to gateway-1; nothing is lost: gateway-2 keeps releasing its held
// samples on their schedule while it shuts down, so gateway-1's older samples of the same series
// are not overtaken (and rejected as out of order).
func TestGatewayRestart(t *testing.T) {
	s := Start(t, Options{Gateways: twoGateways("gateway.yaml"), Agents: 1})
	require.True(t, WaitFor(10*time.Second, func() bool { return s.FleetState("gateway-2") == "ready" }),
		"gateway-2 never showed ready in the fleet view")
	gw2 := s.Gateways[1]
	gen := newLoad("fleet_e2e_restart", nil)
	before := s.PromCounts()
	var whileDown, fleetWhileDown string
	s.Send(scenarioSteps, func(step int) {
		switch step {
		case 5:
			gw2.Stop(t)
		case 6:
			whileDown = gw2.Readiness()
		case 10:
			// stale_after is 3s in the stack.
			WaitFor(5*time.Second, func() bool { return s.FleetState("gateway-2") == "missing" })
			fleetWhileDown = s.FleetState("gateway-2")
		case 12:
			s.Restart(gw2)
		}
	}, gen)
	s.Drain(3*time.Second, time.Minute)
	r := s.Collect("gateway restarted", gen, scenarioSteps, before)
	Table(os.Stdout, r)
	t.Logf("gateway-2 while down: readiness %q, fleet view %q", whileDown, fleetWhileDown)

	assert.Equal(t, "unreachable", whileDown)
	assert.Equal(t, "missing", fleetWhileDown, "the fleet view should flag the stopped gateway")
	assert.True(t, WaitFor(10*time.Second, func() bool { return s.FleetState("gateway-2") == "ready" }),
		"gateway-2 never came back in the fleet view")
	assert.Equal(t, "ready", gw2.Readiness())
	require.Zero(t, r.Unaccounted(), "samples went missing that no component counted")
	if !assert.Zero(t, r.Missing, "samples missing") {
		s.DumpLogs(os.Stdout)
	}
	assert.Zero(t, r.OutOfOrder, "Prometheus rejected out-of-order samples")
	assert.Zero(t, r.Wrong+r.Unexpected+r.Duplicates)
}

// TestBackendOutage is scenario 6: the backend stops answering for 30s (a real Prometheus,
// frozen with SIGSTOP). Readiness turns 503 on the gateways and recovers after; nothing is lost
// beyond what the configured bounds allow, and that is counted.
//
// It runs in stamp mode. In holdback mode two gateways' backlogs, sent at once when the backend
// comes back, interleave arbitrarily: whatever is older than the other gateway's newest sample
// of a series is rejected (counted, never silent). Event-time release cannot order what was
// held past its release time; stamping, which gives each gateway its own series, can.
func TestBackendOutage(t *testing.T) {
	s := Start(t, Options{Gateways: twoGateways("gateway.yaml", "FLEET_ORDERING_MODE=stamp"), Agents: 1})
	gen := newLoad("fleet_e2e_outage", nil)
	before := s.PromCounts()
	notReady := map[string]bool{}
	s.Send(scenarioSteps+30, func(step int) {
		switch {
		case step == 3:
			s.Prom.Pause(t)
		case step > 3 && step < 33:
			for _, g := range s.Gateways {
				if g.Readiness() != "ready" {
					notReady[g.Name] = true
				}
			}
		case step == 33:
			s.Prom.Resume(t)
		}
	}, gen)
	s.Drain(5*time.Second, 2*time.Minute)
	r := s.Collect("backend outage 30s", gen, scenarioSteps+30, before)
	Table(os.Stdout, r)

	assert.Equal(t, map[string]bool{"gateway-1": true, "gateway-2": true}, notReady, "readiness should turn 503 during the outage")
	for _, g := range s.Gateways {
		assert.True(t, WaitFor(30*time.Second, func() bool { return g.Readiness() == "ready" }), "%s did not recover", g.Name)
	}
	require.Zero(t, r.Unaccounted(), "samples went missing that no component counted")
	assert.Zero(t, r.Wrong+r.Unexpected+r.Duplicates)
}

// TestTenantBurst is scenario 5: one tenant bursts to 100x its series budget. Only that
// tenant's new series are refused (and counted); the other tenants' data is complete.
func TestTenantBurst(t *testing.T) {
	const budget, steps = 100, 10
	s := Start(t, Options{Gateways: twoGateways("gateway.yaml",
		"FLEET_TENANT_ATTRIBUTE=tenant", "FLEET_TENANT_MAX_SERIES="+strconv.Itoa(budget)), Agents: 1})
	start := time.Now().Add(500 * time.Millisecond).Truncate(time.Millisecond)
	teams := loadgen.New(loadgen.Config{Metric: "fleet_e2e_teams", Series: 240, Start: start, Interval: time.Second,
		ServiceName: "e2e", Tenants: []string{"payments", "search", "checkout"}})
	burst := loadgen.New(loadgen.Config{Metric: "fleet_e2e_burst", Series: 100 * budget, Start: start, Interval: time.Second,
		ServiceName: "e2e", Tenants: []string{"experiments"}})
	before := s.PromCounts()
	s.Send(steps, nil, teams, burst)
	s.Drain(3*time.Second, time.Minute)
	rTeams := s.Collect("tenants within budget", teams, steps, before)
	rBurst := s.Collect("tenant at 100x budget", burst, steps, before)
	Table(os.Stdout, rTeams, rBurst)

	assert.Zero(t, rTeams.Missing+rTeams.Wrong+rTeams.Unexpected+rTeams.Duplicates, "tenants within budget lost data")
	assert.Zero(t, rTeams.OutOfOrder)
	stored := len(s.Prom.Series(t, burst.Config().Metric))
	// Caps are per gateway, and each gateway sees every series here: between one and two
	// budgets' worth of the burst is admitted.
	assert.GreaterOrEqual(t, stored, budget)
	assert.LessOrEqual(t, stored, 2*budget)
	assert.Positive(t, rBurst.Missing)
	require.Zero(t, rBurst.Unaccounted(), "burst samples went missing that series_guard did not count")
	assert.Zero(t, rBurst.Wrong+rBurst.Unexpected+rBurst.Duplicates)
}
