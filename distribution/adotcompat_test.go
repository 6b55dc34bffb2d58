package distribution

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// The operating guide's config blocks, assembled under examples/adot-compat, run unchanged on
// otelcol-fleet thanks to the adotcompat converter. These tests run the real binary on them.

func adotExample(name string) string {
	return filepath.Join(fleettest.RepoRoot(), "examples", "adot-compat", name)
}

// TestADOTValidateWarns: validate passes and prints one warning per retired setting; with the
// converter switched off the same config fails with upstream's errors.
func TestADOTValidateWarns(t *testing.T) {
	cfg := adotExample("agent-guide.yaml")
	out, err := runBinary(t, "validate", "--config", cfg)
	require.NoError(t, err, out)
	for _, old := range []string{
		`"service.telemetry.metrics.address" rewritten to "service.telemetry.metrics.readers"`,
		`"exporters.logging" rewritten to "exporters.debug"`,
		`"processors.memory_limiter.ballast_size_mib" rewritten to "(removed)"`,
		`"extensions.memory_ballast" rewritten to "(removed)"`,
		`"exporters.awsprometheusremotewrite" rewritten to "exporters.prometheus_remote_write + extensions.sigv4auth"`,
	} {
		assert.Contains(t, out, "warning: ADOT compatibility: retired setting "+old)
	}

	out, err = runBinary(t, "validate", "--feature-gates=-otelcolfleet.adotCompat", "--config", cfg)
	require.Error(t, err)
	assert.NotContains(t, out, "ADOT compatibility")
	// Upstream reports one error per section, the first it meets in map order: check the
	// sections that hold a single retired setting.
	assert.Contains(t, out, "invalid keys: ballast_size_mib")
	assert.Contains(t, out, `unknown type: "memory_ballast"`)
	assert.Contains(t, out, "invalid keys: address")
}

// TestADOTCompatHidesNoTypo: a key that is not a retired setting still fails as upstream does,
// and a retired setting whose meaning cannot be preserved fails with our hint beside the error.
func TestADOTCompatHidesNoTypo(t *testing.T) {
	for name, tc := range map[string]struct {
		exporter string
		want     []string
	}{
		"typo": {
			exporter: "debug:\n    verbosityy: detailed",
			want:     []string{"invalid keys: verbosityy"},
		},
		"unpreservable": {
			exporter: "prometheus_remote_write:\n    endpoint: http://127.0.0.1:1/api/v1/write\n    sending_queue: {storage: file_storage}",
			want: []string{
				`retired setting "exporters.prometheus_remote_write.sending_queue" left as is (remote_write_queue has no storage)`,
				"invalid keys: sending_queue",
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			id, _, _ := strings.Cut(tc.exporter, ":")
			cfg := filepath.Join(t.TempDir(), "c.yaml")
			require.NoError(t, os.WriteFile(cfg, []byte(`
receivers:
  otlp:
    protocols: {http: {endpoint: localhost:0}}
exporters:
  `+tc.exporter+`
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [`+id+`]}
`), 0o600))
			out, err := runBinary(t, "validate", "--config", cfg)
			require.Error(t, err, out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

// startExample runs the binary on an example config and returns its output buffer; the
// process is stopped with SIGTERM by the returned function, which asserts a clean exit.
func startExample(t *testing.T, cfg string, env ...string) (*fleettest.LockedBuffer, func()) {
	t.Helper()
	// Shipped configs listen on the collector's fixed ports.
	fleettest.LockDefaultPorts(t)
	return startBinary(t, fleettest.CollectorBinary(t), cfg, env...)
}

// startBinary runs bin on cfg with the examples' environment plus env; see startExample.
func startBinary(t *testing.T, bin, cfg string, env ...string) (*fleettest.LockedBuffer, func()) {
	t.Helper()
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Env = append(exampleEnv(t), env...)
	out := &fleettest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return out, func() {
		stopped = true
		// fleet_health answers before the pipelines start, and the collector's SIGTERM handler
		// comes after them (fleettest.SignalGrace says why the pause).
		require.Eventually(t, func() bool { return strings.Contains(out.String(), fleettest.ReadyLine) },
			30*time.Second, 20*time.Millisecond, "the collector never finished starting:\n%s", out)
		time.Sleep(fleettest.SignalGrace)
		require.NoError(t, cmd.Process.Signal(sigterm))
		select {
		case err := <-done:
			require.NoError(t, err, "collector exited with an error after SIGTERM:\n%s", out)
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("collector did not exit within 30s of SIGTERM:\n%s", out)
		}
	}
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestADOTAgentGuideRuns starts the guide's agent config unchanged: its health check and
// self-telemetry answer where the guide says (the address rewrite took effect), and data sent to
// it reaches a real Prometheus through the rewritten remote-write exporter and sigv4auth.
func TestADOTAgentGuideRuns(t *testing.T) {
	prom := fleettest.StartPrometheus(t)
	out, stop := startExample(t, adotExample("agent-guide.yaml"), "AMP_REMOTE_WRITE_ENDPOINT="+prom.RemoteWriteURL())
	require.Eventually(t, func() bool { return httpStatus("http://127.0.0.1:13133/") == http.StatusOK },
		time.Minute, 200*time.Millisecond, "health_check never answered:\n%s", out)
	assert.Equal(t, http.StatusOK, httpStatus("http://127.0.0.1:8888/metrics"))
	assert.Contains(t, out.String(), `ADOT compatibility: retired setting "exporters.awsprometheusremotewrite" rewritten`)

	deliverProbe(t, prom, "127.0.0.1:4318", "adotcompat", "adot_compat_probe", 7, out)
	stop()
}

// TestADOTDaemonSetScrapeRuns starts the guide's DaemonSet scrape config (corrected) outside a
// cluster: Kubernetes discovery has no API server to reach here, which the prometheus receiver
// logs and survives; the collector must start, serve health and stop cleanly.
func TestADOTDaemonSetScrapeRuns(t *testing.T) {
	out, stop := startExample(t, adotExample("daemonset-scrape.yaml"),
		"AMP_REMOTE_WRITE_ENDPOINT=http://127.0.0.1:1/api/v1/write",
		// Without these the client-go in-cluster config fails fast, which is what we want here:
		// no request may leave loopback.
		"KUBERNETES_SERVICE_HOST=", "KUBERNETES_SERVICE_PORT=")
	require.Eventually(t, func() bool { return httpStatus("http://127.0.0.1:13133/") == http.StatusOK },
		time.Minute, 200*time.Millisecond, "health_check never answered:\n%s", out)
	assert.Equal(t, http.StatusOK, httpStatus("http://127.0.0.1:8888/metrics"))
	stop()
}
