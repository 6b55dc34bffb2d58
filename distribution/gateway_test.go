package distribution

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// The gateway-only binary (distribution/gateway/builder-config.yaml, `make build-gateway`): what
// it contains, that the gateway example validates and runs on it, and that it stays on the
// full distribution's release.

// gatewayManifest is the gateway build's manifest path, relative to the repository root.
const gatewayManifest = "distribution/gateway/builder-config.yaml"

func readManifest(t *testing.T, rel string) manifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fleettest.RepoRoot(), rel))
	require.NoError(t, err)
	var m manifest
	require.NoError(t, yaml.Unmarshal(raw, &m))
	return m
}

// TestGatewayComponents checks that the gateway binary holds exactly the components its manifest
// names, and no more: the point of the build is what it leaves out.
func TestGatewayComponents(t *testing.T) {
	cmd := exec.Command(fleettest.GatewayBinary(t), "components")
	cmd.Env = exampleEnv(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assertComponents(t, out, readManifest(t, gatewayManifest), map[string][]string{
		"receivers":  {"otlp"},
		"processors": {"attributes", "batch", "filter", "memory_limiter", "redaction", "resource", "transform"},
		"exporters":  {"debug", "otlp_http", "prometheus_remote_write"},
		"extensions": {"bearertokenauth", "health_check", "healthcheckv2", "pprof", "sigv4auth"},
	}, []string{"env", "file", "yaml"})
}

// TestGatewayManifestOnFullRelease checks that every module the gateway build pins is pinned at
// the same version by the full distribution's builder-config.yaml: one release everywhere, so a
// config that runs on one binary runs on the other.
func TestGatewayManifestOnFullRelease(t *testing.T) {
	full := map[string]bool{}
	fm := readManifest(t, "builder-config.yaml")
	for _, mods := range [][]module{fm.Receivers, fm.Processors, fm.Exporters, fm.Extensions} {
		for _, mod := range mods {
			full[mod.GoMod+" "+mod.Import] = true
		}
	}
	gm := readManifest(t, gatewayManifest)
	n := 0
	for _, mods := range [][]module{gm.Receivers, gm.Processors, gm.Exporters, gm.Extensions} {
		for _, mod := range mods {
			n++
			assert.True(t, full[mod.GoMod+" "+mod.Import], "%s pins %q (import %q), which builder-config.yaml does not pin at that version", gatewayManifest, mod.GoMod, mod.Import)
		}
	}
	require.NotZero(t, n, "no modules read from %s", gatewayManifest)
}

// gatewayExampleConfigs lists the collector configs under examples/gateway: the gateway mode's
// example, its stock baseline and the agent in front of them.
func gatewayExampleConfigs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, cfg := range shippedConfigs(t) {
		if filepath.Dir(cfg) == filepath.Join(fleettest.RepoRoot(), "examples", "gateway") {
			out = append(out, cfg)
		}
	}
	require.Len(t, out, 3, "examples/gateway: agent.yaml, gateway.yaml, gateway-stock.yaml")
	return out
}

// TestGatewayValidatesGatewayExamples runs `otelcol-fleet-gateway validate` on every config of
// examples/gateway, and checks that a config needing what the gateway build leaves out (the
// default config scrapes itself with the prometheus receiver) is refused by name.
func TestGatewayValidatesGatewayExamples(t *testing.T) {
	bin := fleettest.GatewayBinary(t)
	validate := func(cfg string) (string, error) {
		cmd := exec.Command(bin, "validate", "--config", cfg)
		cmd.Env = exampleEnv(t)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, cfg := range gatewayExampleConfigs(t) {
		rel, _ := filepath.Rel(fleettest.RepoRoot(), cfg)
		t.Run(rel, func(t *testing.T) {
			out, err := validate(cfg)
			assert.NoError(t, err, "validate %s:\n%s", rel, out)
		})
	}
	out, err := validate(filepath.Join(fleettest.RepoRoot(), "distribution", "config.yaml"))
	require.Error(t, err, "the gateway binary validated a config with the prometheus receiver:\n%s", out)
	assert.Contains(t, out, `unknown type: "prometheus"`)
}

// TestGatewayExampleRuns starts the gateway binary on examples/gateway/gateway.yaml unchanged,
// every listener on a free loopback port: fleet_health reports live and ready, a sample sent over
// OTLP/HTTP reaches a real Prometheus through series_guard and ordered_rw, and SIGTERM stops it
// cleanly.
func TestGatewayExampleRuns(t *testing.T) {
	bin := fleettest.GatewayBinary(t)
	prom := fleettest.StartPrometheus(t)
	addr := func() string { return "127.0.0.1:" + strconv.Itoa(fleettest.FreePort(t)) }
	otlp, health, opampServer, telemetryPort := addr(), addr(), addr(), strconv.Itoa(fleettest.FreePort(t))
	token := filepath.Join(t.TempDir(), "opamp-token")
	require.NoError(t, os.WriteFile(token, []byte("gateway-test-token\n"), 0o600))

	out, stop := startBinary(t, bin, filepath.Join(fleettest.RepoRoot(), "examples", "gateway", "gateway.yaml"),
		"FLEET_OTLP_HTTP_ENDPOINT="+otlp,
		"FLEET_REMOTE_WRITE_ENDPOINT="+prom.RemoteWriteURL(),
		"FLEET_HEALTH_ENDPOINT="+health,
		"FLEET_OPAMP_SERVER_ENDPOINT="+opampServer,
		"FLEET_OPAMP_TOKEN_FILE="+token,
		"FLEET_TELEMETRY_HOST=127.0.0.1",
		"FLEET_TELEMETRY_PORT="+telemetryPort,
		"FLEET_GATEWAY_ID=gateway-test",
		// The probe is held for the window before it is sent; 1s keeps the test short.
		"FLEET_HOLDBACK_WINDOW=1s",
	)

	require.Eventually(t, func() bool { return httpStatus("http://"+health+"/livez") == http.StatusOK },
		time.Minute, 200*time.Millisecond, "fleet_health never answered /livez:\n%s", out)
	require.Eventually(t, func() bool { return httpStatus("http://"+health+"/readyz") == http.StatusOK },
		30*time.Second, 250*time.Millisecond, "fleet_health never reported ready:\n%s", out)

	deliverProbe(t, prom, otlp, "gatewaytest", "fleet_gateway_probe", 5, out)
	metrics := fleettest.ScrapeMetrics(t, "http://127.0.0.1:"+telemetryPort+"/metrics")
	assert.Positive(t, fleettest.Sum(metrics, "otelcol_exporter_ordered_rw_sent_samples", nil), "ordered_rw counted no sent sample")

	stop()
	assert.Contains(t, out.String(), "Shutdown complete")
}
