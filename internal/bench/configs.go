package bench

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// Pipeline is one collector configuration under test.
type Pipeline struct {
	// Key is the short name in tables: a-e, s (stamp), v (vmagent).
	Key  string
	Name string
	// YAML is the collector configuration. It refers to ${env:BENCH_OTLP_ENDPOINT},
	// ${env:BENCH_SINK_URL} and ${env:BENCH_PPROF_ENDPOINT} (or, for the example gateways, to
	// their own FLEET_* variables, which Env sets).
	YAML string
	// Pprof is true when the config loads the pprof extension on BENCH_PPROF_ENDPOINT.
	Pprof bool
	// AgentPprof is true when the peer agent serves /debug/pprof/ on its listen address
	// (vmagent does, on -httpListenAddr), so that its CPU is profiled as the collector's is.
	AgentPprof bool
	// Needs lists the components the binary must contain.
	Needs []string
	// Unavailable, when not empty, says why the pipeline cannot run with this binary.
	Unavailable string
	// Args are extra command-line arguments of the collector, after its --config (e.g.
	// --feature-gates); unused for a peer agent.
	Args []string
	// Binary, when set, is the build of the distribution this pipeline runs instead of the
	// session's (the gateway-only binary of (gw)).
	Binary string
	// Agent, when set, is the binary of a peer run instead of the collector (vmagent), which
	// takes OTLP at OTLPPath; YAML is then unused.
	Agent    string
	OTLPPath string
}

// Env returns the environment the pipeline's YAML expects.
func (p Pipeline) Env(otlpEndpoint, sinkURL, pprofEndpoint, healthEndpoint string) []string {
	return []string{
		"BENCH_OTLP_ENDPOINT=" + otlpEndpoint,
		"BENCH_SINK_URL=" + sinkURL,
		"BENCH_PPROF_ENDPOINT=" + pprofEndpoint,
		"FLEET_OTLP_HTTP_ENDPOINT=" + otlpEndpoint,
		"FLEET_REMOTE_WRITE_ENDPOINT=" + sinkURL,
		"FLEET_HEALTH_ENDPOINT=" + healthEndpoint,
		"FLEET_GATEWAY_ID=bench",
	}
}

// The minimal pipelines (a)-(c) share everything but the part under test: OTLP/HTTP in, the
// batch processor with the gateway example's settings, pprof for profiles, and fleet_health as
// a gateway runs it (the load balancer's /readyz; it also gives back the binary's start-up
// pages, release_startup_pages, which -collector-env BENCH_RELEASE_STARTUP_PAGES=false turns off
// for an A/B on one binary). The self-telemetry block is added by fleettest (level detailed, as
// in the gateway examples).
const pipelineHead = `extensions:
  pprof:
    endpoint: ${env:BENCH_PPROF_ENDPOINT}
  fleet_health:
    endpoint: ${env:FLEET_HEALTH_ENDPOINT}
    release_startup_pages: ${env:BENCH_RELEASE_STARTUP_PAGES:-true}
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${env:BENCH_OTLP_ENDPOINT}
processors:
  batch:
    send_batch_size: 8192
    timeout: 200ms
`

// HoldbackWindow is ordered_rw's default hold-back window, used by (b) and (c).
const HoldbackWindow = "5s"

func minimalPipelines(maxHeldSamples, maxSeries int) []Pipeline {
	orderedRW := fmt.Sprintf(`exporters:
  ordered_rw:
    endpoint: ${env:BENCH_SINK_URL}
    ordering:
      mode: holdback
      holdback:
        window: %s
        max_held_samples: %d
      # The scale runs go past ordered_rw's default cap on tracked series (1M); the cap is
      # sized as series_guard's max_series is, so that neither drops a series under test.
      max_tracked_series: %d
`, HoldbackWindow, maxHeldSamples, maxSeries)
	return []Pipeline{
		{
			Key:  "a",
			Name: "stock prometheus_remote_write",
			YAML: pipelineHead + `exporters:
  prometheus_remote_write:
    endpoint: ${env:BENCH_SINK_URL}
service:
  extensions: [pprof, fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [prometheus_remote_write]
`,
			Pprof: true,
			Needs: []string{"prometheus_remote_write", "fleet_health"},
		},
		{
			Key:  "b",
			Name: "ordered_rw holdback",
			YAML: pipelineHead + orderedRW + `service:
  extensions: [pprof, fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [ordered_rw]
`,
			Pprof: true,
			Needs: []string{"ordered_rw", "fleet_health"},
		},
		{
			Key:  "c",
			Name: "series_guard + ordered_rw",
			// A series cap above every series count measured, so every series is tracked (with
			// no series cap, series_guard checks label limits only and tracks nothing).
			YAML: strings.Replace(pipelineHead, "processors:\n", fmt.Sprintf(`processors:
  series_guard:
    series_limits:
      max_series: %d
`, maxSeries), 1) + orderedRW + `service:
  extensions: [pprof, fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch, series_guard]
      exporters: [ordered_rw]
`,
			Pprof: true,
			Needs: []string{"series_guard", "ordered_rw", "fleet_health"},
		},
		StampPipeline(maxSeries),
	}
}

// StampPipeline is (s): (c) with ordering.mode stamp, the pipeline of the memory target.
func StampPipeline(maxSeries int) Pipeline {
	return Pipeline{
		Key:  "s",
		Name: "series_guard + ordered_rw stamp (nothing held)",
		// (c) with ordering.mode stamp: every sample goes to the shards as it is pushed, with
		// a label per gateway, so nothing is held; the memory of the pipeline itself.
		// remote_write_queue.queue_size is the default unless -collector-env BENCH_QUEUE_SIZE=N
		// says otherwise: at saturation what is queued on the shards is a third of the peak.
		YAML: strings.Replace(pipelineHead, "processors:\n", fmt.Sprintf(`processors:
  series_guard:
    series_limits:
      max_series: %d
`, maxSeries), 1) + fmt.Sprintf(`exporters:
  ordered_rw:
    endpoint: ${env:BENCH_SINK_URL}
    ordering:
      mode: stamp
      stamp:
        value: bench
      max_tracked_series: %d
    remote_write_queue:
      queue_size: ${env:BENCH_QUEUE_SIZE:-10000}
`, maxSeries) + `service:
  extensions: [pprof, fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [batch, series_guard]
      exporters: [ordered_rw]
`,
		Pprof: true,
		Needs: []string{"series_guard", "ordered_rw", "fleet_health"},
	}
}

// gatewayPipelines are the example gateways, read unchanged from examples/gateway.
func gatewayPipelines(repoRoot string) ([]Pipeline, error) {
	var out []Pipeline
	for _, g := range []struct{ key, name, file string }{
		{"d", "full gateway (examples/gateway/gateway.yaml)", "gateway.yaml"},
		{"e", "stock gateway (examples/gateway/gateway-stock.yaml)", "gateway-stock.yaml"},
	} {
		b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "gateway", g.file))
		if err != nil {
			return nil, err
		}
		p := Pipeline{Key: g.key, Name: g.name, YAML: string(b)}
		if g.key == "d" {
			p.Needs = []string{"ordered_rw", "fleet_health"}
		}
		out = append(out, p)
	}
	return out, nil
}

// GatewayStampKey is (s) run by the gateway-only binary (make build-gateway): the same
// pipeline, so that the two differ only by what the binary links.
const GatewayStampKey = "gw"

// gatewayStamp is (s) on the gateway-only binary; unavailable without one.
func gatewayStamp(s Pipeline, gatewayBinary string) Pipeline {
	g := s
	g.Key, g.Name, g.Binary = GatewayStampKey, s.Name+", gateway-only binary", gatewayBinary
	if gatewayBinary == "" {
		g.Unavailable = "no gateway-only binary given (-gateway-binary)"
	} else if _, err := os.Stat(gatewayBinary); err != nil {
		g.Unavailable = fmt.Sprintf("gateway-only binary: %v (make build-gateway builds it)", err)
	}
	return g
}

// Pipelines returns (a)-(e), (s), (gw) and the peer (v), each marked unavailable when its binary
// lacks a component it needs (or, for (v) and (gw), when there is no such binary).
func Pipelines(binary, gatewayBinary, vmagentBinary, repoRoot string, maxHeldSamples, maxSeries int) ([]Pipeline, error) {
	gws, err := gatewayPipelines(repoRoot)
	if err != nil {
		return nil, err
	}
	all := minimalPipelines(maxHeldSamples, maxSeries)
	all = append(all, gatewayStamp(all[len(all)-1], gatewayBinary))
	all = append(all, gws...)
	all = append(all, vmagentPipeline(vmagentBinary))
	components := map[string]map[string]bool{}
	for i := range all {
		if all[i].Unavailable != "" || all[i].Agent != "" {
			continue
		}
		bin := cmp.Or(all[i].Binary, binary)
		if components[bin] == nil {
			if components[bin], err = BinaryComponents(bin); err != nil {
				return nil, err
			}
		}
		var missing []string
		for _, n := range all[i].Needs {
			if !components[bin][n] {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			all[i].Unavailable = "not built yet: the binary has no " + strings.Join(missing, ", ")
		}
	}
	return all, nil
}

// CPUProfiles reports whether the pipeline's process serves CPU profiles: the collector's pprof
// extension, or the peer's own /debug/pprof/.
func (p Pipeline) CPUProfiles() bool { return p.Pprof || p.AgentPprof }

// start runs the pipeline's collector (not a peer's) with env, on its own binary if it has one.
func (p Pipeline) start(s *fleettest.Scope, env []string) *fleettest.Collector {
	if p.Binary != "" {
		return fleettest.StartBinaryWithArgs(s, p.Binary, p.YAML, p.Args, env...)
	}
	return fleettest.StartCollectorWithArgs(s, p.YAML, p.Args, env...)
}

// WithCollectorArgs adds args to the command line of every collector pipeline (not the peer's).
// With variants, each collector pipeline is kept as it is and followed by a copy keyed "<key>+"
// that has the args, so that both run in the same rounds, interleaved (-only b,b+,c,c+).
func WithCollectorArgs(pipelines []Pipeline, args []string, variants bool) []Pipeline {
	if len(args) == 0 {
		return pipelines
	}
	out := make([]Pipeline, 0, 2*len(pipelines))
	for _, p := range pipelines {
		if p.Agent != "" {
			out = append(out, p)
			continue
		}
		with := p
		with.Args = append(slices.Clone(p.Args), args...)
		with.Name = p.Name + ", " + strings.Join(args, " ")
		if variants {
			with.Key = p.Key + "+"
			out = append(out, p)
		}
		out = append(out, with)
	}
	return out
}

// BinaryComponents lists the component types `otelcol-fleet components` reports.
func BinaryComponents(binary string) (map[string]bool, error) {
	out, err := exec.Command(binary, "components").Output()
	if err != nil {
		return nil, fmt.Errorf("%s components: %w", binary, err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "- name: "); ok {
			have[strings.TrimSpace(name)] = true
		}
	}
	return have, nil
}
