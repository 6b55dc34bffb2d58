// Package distribution tests the built otelcol-fleet binary itself: what it contains, that every
// shipped config validates, and that the default config runs, serves health and self-metrics,
// delivers data to a real Prometheus and stops cleanly.
package distribution

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// manifest is the part of builder-config.yaml this test reads.
type manifest struct {
	Receivers  []module `yaml:"receivers"`
	Processors []module `yaml:"processors"`
	Exporters  []module `yaml:"exporters"`
	Extensions []module `yaml:"extensions"`
}

type module struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
}

// componentsOutput is what `otelcol-fleet components` prints.
type componentsOutput struct {
	Receivers  []struct{ Name string }   `yaml:"receivers"`
	Processors []struct{ Name string }   `yaml:"processors"`
	Exporters  []struct{ Name string }   `yaml:"exporters"`
	Extensions []struct{ Name string }   `yaml:"extensions"`
	Providers  []struct{ Scheme string } `yaml:"providers"`
}

// exampleEnv is the environment shipped configs are validated and run with: dummy AWS
// credentials (sigv4auth must never reach for the EC2 metadata service), and stand-ins for what
// a Kubernetes pod provides.
func exampleEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	token, ca := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	require.NoError(t, os.WriteFile(token, []byte("dummy"), 0o600))
	require.NoError(t, os.WriteFile(ca, nil, 0o600))
	return append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=dummy",
		"AWS_SECRET_ACCESS_KEY=dummy", "AWS_REGION=us-east-1", "K8S_NODE_NAME=node-1",
		"K8S_SA_TOKEN_FILE="+token, "K8S_SA_CA_FILE="+ca)
}

func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fleettest.CollectorBinary(t), args...)
	cmd.Env = exampleEnv(t)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func names[T any](items []T, get func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, get(it))
	}
	sort.Strings(out)
	return out
}

// TestComponents checks that the binary holds exactly the components the manifest names, by type.
func TestComponents(t *testing.T) {
	out, err := runBinary(t, "components")
	require.NoError(t, err, out)
	// The manifest names modules, the binary names component types: the lists below tie the
	// two together, and the counts catch a module added to one side only.
	assertComponents(t, []byte(out), readManifest(t, "builder-config.yaml"), map[string][]string{
		"receivers":  {"awsecscontainermetrics", "otlp", "prometheus"},
		"processors": {"attributes", "batch", "cumulative_to_delta", "delta_to_cumulative", "filter", "groupbyattrs", "memory_limiter", "metrics_transform", "probabilistic_sampler", "redaction", "resource", "transform"},
		"exporters":  {"debug", "file", "otlp_grpc", "otlp_http", "prometheus", "prometheus_remote_write"},
		"extensions": {"bearertokenauth", "ecs_observer", "file_storage", "health_check", "healthcheckv2", "pprof", "sigv4auth", "zpages"},
	}, []string{"env", "file", "http", "https", "yaml"})
}

// assertComponents checks a binary's `components` output against its manifest m: exactly the
// upstream types in want plus this repository's components the manifest names, by kind, as many
// of each kind as m has modules, and exactly the providers' schemes.
func assertComponents(t *testing.T, out []byte, m manifest, want map[string][]string, providers []string) {
	t.Helper()
	var got componentsOutput
	require.NoError(t, yaml.Unmarshal(out, &got), "%s", out)
	for _, own := range ownComponents(t, m) {
		want[own.kind] = append(want[own.kind], own.typ)
	}
	byName := func(c struct{ Name string }) string { return c.Name }
	gotByKind := map[string][]string{
		"receivers":  names(got.Receivers, byName),
		"processors": names(got.Processors, byName),
		"exporters":  names(got.Exporters, byName),
		"extensions": names(got.Extensions, byName),
	}
	counts := map[string]int{"receivers": len(m.Receivers), "processors": len(m.Processors), "exporters": len(m.Exporters), "extensions": len(m.Extensions)}
	for kind, types := range want {
		assert.ElementsMatch(t, types, gotByKind[kind], "%s of the binary", kind)
		assert.Len(t, gotByKind[kind], counts[kind], "%s: the binary and its manifest disagree: %v", kind, gotByKind[kind])
	}
	assert.ElementsMatch(t, providers, names(got.Providers, func(p struct{ Scheme string }) string { return p.Scheme }))
}

type ownComponent struct{ kind, typ string }

// ownTypes maps this repository's component packages to their kinds and types.
var ownTypes = map[string]ownComponent{
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor": {"processors", "series_guard"},
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension": {"extensions", "fleet_health"},
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter":     {"exporters", "ordered_rw"},
}

// ownComponents lists this repository's components that the manifest includes, with their types.
func ownComponents(t *testing.T, m manifest) []ownComponent {
	var out []ownComponent
	for _, mods := range [][]module{m.Receivers, m.Processors, m.Exporters, m.Extensions} {
		for _, mod := range mods {
			if !strings.HasPrefix(mod.GoMod, "github.com/otelcol-fleet/otelcol-fleet ") {
				continue
			}
			c, ok := ownTypes[mod.Import]
			if !ok {
				t.Errorf("builder-config.yaml imports %q: add its type to ownTypes", mod.Import)
				continue
			}
			out = append(out, c)
		}
	}
	return out
}

// shippedConfigs lists the default config and every collector config under examples/.
func shippedConfigs(t *testing.T) []string {
	t.Helper()
	root := fleettest.RepoRoot()
	configs := []string{filepath.Join(root, "distribution", "config.yaml")}
	examples := filepath.Join(root, "examples")
	if _, err := os.Stat(examples); err != nil {
		return configs
	}
	require.NoError(t, filepath.WalkDir(examples, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc map[string]any
		// Kubernetes manifests and other YAML live there too: a collector config is a single
		// document with a service.pipelines section.
		if yaml.Unmarshal(raw, &doc) == nil {
			if svc, ok := doc["service"].(map[string]any); ok && svc["pipelines"] != nil {
				configs = append(configs, path)
			}
		}
		return nil
	}))
	return configs
}

// TestValidateShippedConfigs runs `otelcol-fleet validate` on every config we ship.
func TestValidateShippedConfigs(t *testing.T) {
	for _, cfg := range shippedConfigs(t) {
		rel, _ := filepath.Rel(fleettest.RepoRoot(), cfg)
		t.Run(rel, func(t *testing.T) {
			out, err := runBinary(t, "validate", "--config", cfg)
			assert.NoError(t, err, "validate %s:\n%s", rel, out)
		})
	}
}

// TestValidateRejectsBadConfig proves validate is not a rubber stamp.
func TestValidateRejectsBadConfig(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`
receivers:
  otlp:
    protocols: {http: {endpoint: localhost:0}}
exporters:
  nosuchexporter:
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [nosuchexporter]}
`), 0o600))
	out, err := runBinary(t, "validate", "--config", bad)
	require.Error(t, err)
	assert.Contains(t, out, `unknown type: "nosuchexporter"`)
}

// TestDefaultConfigRuns starts the binary on distribution/config.yaml untouched (its fixed
// localhost ports must be free), with the remote-write endpoint pointed at a real Prometheus.
func TestDefaultConfigRuns(t *testing.T) {
	prom := fleettest.StartPrometheus(t)
	cfg := filepath.Join(fleettest.RepoRoot(), "distribution", "config.yaml")
	out, stop := startExample(t, cfg, "FLEET_REMOTE_WRITE_ENDPOINT="+prom.RemoteWriteURL())

	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	require.Eventually(t, func() bool {
		code, _ := get("http://localhost:13133/")
		return code == http.StatusOK
	}, time.Minute, 200*time.Millisecond, "health endpoint never answered 200:\n%s", out)

	code, body := get("http://localhost:8888/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "otelcol_process_memory_rss")

	// Ready: every pipeline started (what `/` says too, as health_check) and no signal over its
	// threshold.
	require.Eventually(t, func() bool {
		code, _ := get("http://localhost:13133/readyz")
		return code == http.StatusOK
	}, 30*time.Second, 250*time.Millisecond, "fleet_health never reported ready:\n%s", out)

	// Data sent to the agent's OTLP/HTTP port arrives in Prometheus.
	deliverProbe(t, prom, "localhost:4318", "disttest", "fleet_distribution_probe", 42, out)
	_, body = get("http://localhost:8888/metrics")
	assert.Contains(t, body, `otelcol_receiver_accepted_metric_points{receiver="otlp"`)
	assert.Contains(t, body, `otelcol_exporter_sent_metric_points{exporter="ordered_rw"`)
	assert.Contains(t, body, `otelcol_exporter_ordered_rw_sent_samples`)
	code, _ = get("http://localhost:13133/livez")
	assert.Equal(t, http.StatusOK, code)
	// The probe program shipped next to the collector agrees.
	probe := exec.Command(filepath.Join(fleettest.RepoRoot(), "distribution", "_build", "healthcheck"))
	probeOut, err := probe.CombinedOutput()
	assert.NoError(t, err, "healthcheck: %s", probeOut)

	stop()
	assert.Contains(t, out.String(), "Shutdown complete")
}

// deliverProbe sends one gauge sample to a collector's OTLP/HTTP endpoint and waits until
// Prometheus stores it under the given job: the pipeline works end to end.
func deliverProbe(t *testing.T, prom *fleettest.Prometheus, otlpEndpoint, job, metric string, value float64, logs fmt.Stringer) {
	t.Helper()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", job)
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName(metric)
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	dp.SetDoubleValue(value)
	fleettest.SendOTLP(t, otlpEndpoint, md)
	require.Eventually(t, func() bool {
		return prom.QueryScalar(t, fmt.Sprintf(`%s{job=%q}`, metric, job)) == value
	}, 30*time.Second, 250*time.Millisecond, "%s never reached Prometheus:\n%s", metric, logs)
}
