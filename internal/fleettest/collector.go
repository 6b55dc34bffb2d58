package fleettest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// Collector is a running otelcol-fleet binary.
type Collector struct {
	// TelemetryPort serves the collector's own metrics (/metrics); the config refers to it as
	// ${env:FLEET_TELEMETRY_PORT}.
	TelemetryPort int
	ConfigPath    string
	proc          *process
	stopped       bool
	// readyAt is when the collector was first seen to have logged ReadyLine.
	readyAt time.Time
}

// ReadyLine is what the collector logs once every component started.
const ReadyLine = "Everything is ready."

// SignalGrace is how long after ReadyLine a test waits before it sends the collector SIGTERM.
// otelcol installs its SIGTERM handler only after that line (v0.165.0 collector.go: signal.Notify
// comes after setupConfigurationComponents) and logs nothing closer; a SIGTERM sent in between
// takes the signal's default action and kills the collector (a clean-clone make test saw it).
const SignalGrace = 500 * time.Millisecond

// telemetryConfig is merged into a config that has no service.telemetry of its own (as a second
// --config), so every collector a test starts serves its self-metrics on a port the test knows.
const telemetryConfig = `service:
  telemetry:
    logs:
      level: info
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:FLEET_TELEMETRY_PORT}
`

// StartCollector writes configYAML to a temporary file, starts the built binary with it and
// waits until the collector started every component and serves its self-telemetry. env entries are "K=V". When the config
// has no `telemetry:` block, one serving on TelemetryPort is merged in. The collector is stopped with SIGTERM at the end of the
// test, and the test fails if it does not exit cleanly.
func StartCollector(t T, configYAML string, env ...string) *Collector {
	t.Helper()
	return StartCollectorOnPort(t, configYAML, FreePort(t), env...)
}

// StartCollectorOnPort is StartCollector with a given self-telemetry port: a collector restarted
// after a crash comes back where its scrapers and peers expect it.
func StartCollectorOnPort(t T, configYAML string, telemetryPort int, env ...string) *Collector {
	t.Helper()
	return startCollector(t, CollectorBinary(t), configYAML, telemetryPort, nil, env)
}

// StartCollectorWithArgs is StartCollector with extra command-line arguments after --config
// (e.g. --feature-gates=pdata.useProtoPooling).
func StartCollectorWithArgs(t T, configYAML string, args []string, env ...string) *Collector {
	t.Helper()
	return startCollector(t, CollectorBinary(t), configYAML, FreePort(t), args, env)
}

// StartBinaryWithArgs is StartCollectorWithArgs with another build of the distribution than
// CollectorBinary (the gateway-only binary).
func StartBinaryWithArgs(t T, bin, configYAML string, args []string, env ...string) *Collector {
	t.Helper()
	SkipIfE2EDisabled(t)
	return startCollector(t, bin, configYAML, FreePort(t), args, env)
}

func startCollector(t T, bin, configYAML string, telemetryPort int, extraArgs, env []string) *Collector {
	t.Helper()
	c := &Collector{TelemetryPort: telemetryPort}
	dir := t.TempDir()
	c.ConfigPath = filepath.Join(dir, "config.yaml")
	if err := writeFile(c.ConfigPath, configYAML); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", c.ConfigPath}
	if !strings.Contains(configYAML, "telemetry:") {
		extra := filepath.Join(dir, "telemetry.yaml")
		if err := writeFile(extra, telemetryConfig); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", extra)
	}
	args = append(args, extraArgs...)
	env = append([]string{
		"FLEET_TELEMETRY_HOST=127.0.0.1",
		"FLEET_TELEMETRY_PORT=" + strconv.Itoa(c.TelemetryPort),
		// sigv4auth must never reach for the EC2 metadata service from a test.
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=dummy",
		"AWS_SECRET_ACCESS_KEY=dummy",
		"AWS_REGION=us-east-1",
	}, env...)
	c.proc = startProcess(t, "otelcol-fleet", env, bin, args...)
	// Self-telemetry is served before the receivers listen; the service's ReadyLine comes after
	// every component started, so a test may send as soon as this returns.
	waitFor(t, c.proc, 60*time.Second, "collector self-telemetry and started components", func() bool {
		if c.readyAt.IsZero() && strings.Contains(c.proc.out.String(), ReadyLine) {
			c.readyAt = time.Now()
		}
		if c.readyAt.IsZero() {
			return false
		}
		_, err := TryScrapeMetrics(c.MetricsURL())
		return err == nil
	})
	t.Cleanup(func() {
		if c.stopped {
			return
		}
		if err := c.terminate(); err != nil {
			t.Errorf("collector did not shut down cleanly: %v\n%s", err, tail(c.Logs(), 4000))
		}
	})
	return c
}

// MetricsURL is where the collector serves its own metrics.
func (c *Collector) MetricsURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.TelemetryPort)
}

// Metrics scrapes the collector's self-telemetry ("name{k=v,...}" -> value).
func (c *Collector) Metrics(t T) map[string]float64 {
	t.Helper()
	return ScrapeMetrics(t, c.MetricsURL())
}

// Logs returns everything the collector printed so far.
func (c *Collector) Logs() string { return c.proc.out.String() }

// Pid is the collector's process id.
func (c *Collector) Pid() int { return c.proc.cmd.Process.Pid }

// Stop sends SIGTERM and fails the test unless the collector exits cleanly within 30s.
func (c *Collector) Stop(t T) {
	t.Helper()
	c.stopped = true
	if err := c.terminate(); err != nil {
		t.Fatalf("collector did not shut down cleanly: %v\n%s", err, tail(c.Logs(), 4000))
	}
}

// terminate sends SIGTERM once SignalGrace passed since ReadyLine, and waits up to 30s.
func (c *Collector) terminate() error {
	time.Sleep(time.Until(c.readyAt.Add(SignalGrace)))
	return c.proc.terminate(30 * time.Second)
}

// Kill ends the collector with SIGKILL, as a crash would.
func (c *Collector) Kill(t T) {
	t.Helper()
	c.stopped = true
	c.proc.kill()
}

// Exited reports whether the process has ended.
func (c *Collector) Exited() bool { return c.proc.exited() }

// SendOTLP posts metrics as OTLP/HTTP protobuf to http://endpoint/v1/metrics and fails the
// test unless the collector accepts them.
func SendOTLP(t T, endpoint string, md pmetric.Metrics) {
	t.Helper()
	if err := TrySendOTLP(endpoint, md); err != nil {
		t.Fatal(err)
	}
}

var otlpClient = &http.Client{Timeout: 30 * time.Second}

// TrySendOTLP is SendOTLP returning the error (for tests that expect refusals).
func TrySendOTLP(endpoint string, md pmetric.Metrics) error {
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return err
	}
	resp, err := otlpClient.Post("http://"+endpoint+"/v1/metrics", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp post to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp post to %s: status %d", endpoint, resp.StatusCode)
	}
	return nil
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}
