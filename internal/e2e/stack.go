// Package e2e runs the operating guide's gateway architecture on one machine, on real parts:
// a real Prometheus standing in for AMP, a real nginx round-robin balancer, two or more gateway
// collectors and one or more agents (the built otelcol-fleet binary, configs from
// examples/gateway/), fed by a deterministic load generator so every stored sample is checked.
package e2e

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// Gateway describes one gateway of the tier.
type Gateway struct {
	// Config is a file under examples/gateway/.
	Config string
	// BatchTimeout differs between gateways, as under different load. The batch processor
	// flushes on a timer of this period: a period that divides the gateway's share of the
	// sample spacing (2s for every other 1s step) would lock the flush to one phase, and
	// whether the stock exporter loses data would depend on that phase alone. The scenarios use
	// 200ms and 2.3s, so the phase drifts through every value within a run, as it does in life.
	BatchTimeout time.Duration
	// Env adds "K=V" settings for this gateway only.
	Env []string
}

// Options describes a stack.
type Options struct {
	Gateways []Gateway
	Agents   int
	// AgentConfig is a file under examples/gateway/ [agent.yaml].
	AgentConfig string
	// Prom, when set, is the backend to use; otherwise the stack starts its own.
	Prom *fleettest.Prometheus
}

// Stack is a running gateway architecture.
type Stack struct {
	Prom     *fleettest.Prometheus
	LB       *fleettest.Nginx
	Gateways []*Node
	Agents   []*Node
	// FleetView is the fleet_health address (host:port) every node reports to: gateway-1's.
	FleetView string
	opts      Options
	t         fleettest.T
}

// Node is one collector of the stack.
type Node struct {
	Name string
	// OTLPEndpoint is its OTLP/HTTP listener (host:port).
	OTLPEndpoint string
	// HealthEndpoint is its fleet_health listener (host:port).
	HealthEndpoint string
	*fleettest.Collector
	config string
	env    []string
}

func exampleConfig(t fleettest.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fleettest.RepoRoot(), "examples", "gateway", name))
	if err != nil {
		t.Fatalf("read example config: %v", err)
	}
	return string(raw)
}

// Start brings the stack up: Prometheus, the gateways, the balancer in front of them, the agents.
func Start(t fleettest.T, opts Options) *Stack {
	t.Helper()
	if opts.AgentConfig == "" {
		opts.AgentConfig = "agent.yaml"
	}
	s := &Stack{opts: opts, t: t}
	s.Prom = opts.Prom
	if s.Prom == nil {
		s.Prom = fleettest.StartPrometheus(t)
	}

	// Every node serves fleet_health on its own port; the first gateway is the fleet view the
	// others report to, over OpAMP, with a bearer token from a file.
	s.FleetView = "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(t))
	opampServer := "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(t))
	tokenFile := filepath.Join(t.TempDir(), "opamp-token")
	if err := os.WriteFile(tokenFile, []byte("e2e-opamp-token\n"), 0o600); err != nil {
		t.Fatalf("writing the OpAMP token file: %v", err)
	}
	upstreams := make([]string, len(opts.Gateways))
	for i, g := range opts.Gateways {
		n := &Node{
			Name:           fmt.Sprintf("gateway-%d", i+1),
			OTLPEndpoint:   "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(t)),
			HealthEndpoint: "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(t)),
			config:         exampleConfig(t, g.Config),
		}
		reportTo, serveOn := "ws://"+opampServer+"/v1/opamp", "127.0.0.1:"+strconv.Itoa(fleettest.FreePort(t))
		if i == 0 {
			n.HealthEndpoint, reportTo, serveOn = s.FleetView, "", opampServer
		}
		n.env = append([]string{
			"FLEET_HEALTH_ENDPOINT=" + n.HealthEndpoint,
			"FLEET_OPAMP_ENDPOINT=" + reportTo,
			"FLEET_OPAMP_SERVER_ENDPOINT=" + serveOn,
			"FLEET_OPAMP_TOKEN_FILE=" + tokenFile,
			"FLEET_STALE_AFTER=3s",
			"FLEET_OTLP_HTTP_ENDPOINT=" + n.OTLPEndpoint,
			"FLEET_REMOTE_WRITE_ENDPOINT=" + s.Prom.RemoteWriteURL(),
			"FLEET_BATCH_TIMEOUT=" + g.BatchTimeout.String(),
			"FLEET_GATEWAY_ID=" + n.Name,
			"HOSTNAME=" + n.Name,
		}, g.Env...)
		n.Collector = fleettest.StartCollector(t, n.config, n.env...)
		s.Gateways = append(s.Gateways, n)
		upstreams[i] = n.OTLPEndpoint
	}
	s.LB = fleettest.StartNginx(t, upstreams)

	for i := range opts.Agents {
		n := &Node{
			Name:           fmt.Sprintf("agent-%d", i+1),
			OTLPEndpoint:   "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(t)),
			HealthEndpoint: "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(t)),
			config:         exampleConfig(t, opts.AgentConfig),
		}
		n.env = []string{
			"FLEET_HEALTH_ENDPOINT=" + n.HealthEndpoint,
			"FLEET_OPAMP_ENDPOINT=ws://" + opampServer + "/v1/opamp",
			"FLEET_OPAMP_TOKEN_FILE=" + tokenFile,
			"FLEET_MEMBER_ID=" + n.Name,
			"FLEET_OTLP_HTTP_ENDPOINT=" + n.OTLPEndpoint,
			"FLEET_GATEWAY_ENDPOINT=" + s.LB.URL(),
			"HOSTNAME=" + n.Name,
		}
		n.Collector = fleettest.StartCollector(t, n.config, n.env...)
		s.Agents = append(s.Agents, n)
	}
	return s
}

// Restart starts a stopped or killed node again with the same config, ports and environment.
func (s *Stack) Restart(n *Node) {
	s.t.Helper()
	n.Collector = fleettest.StartCollectorOnPort(s.t, n.config, n.TelemetryPort, n.env...)
}

// Nodes lists gateways then agents.
func (s *Stack) Nodes() []*Node {
	return append(append([]*Node{}, s.Gateways...), s.Agents...)
}

var _ fleettest.T = (*testing.T)(nil)

// DumpLogs prints what every process logged, for a failed scenario.
func (s *Stack) DumpLogs(w io.Writer) {
	fmt.Fprintf(w, "---- prometheus\n%s\n", s.Prom.Logs())
	for _, n := range s.Nodes() {
		fmt.Fprintf(w, "---- %s\n%s\n", n.Name, n.Logs())
	}
}
