package fleethealthextension_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/internal/bench"
	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/loadgen"
)

// These tests run the real built collector (distribution/_build/otelcol-fleet).

const checkInterval = time.Second

// stallingBackend is an OTLP/HTTP destination the test can make stop answering: while stalled,
// requests hang until the exporter gives up; resumed, they are answered 200.
type stallingBackend struct {
	srv      *httptest.Server
	mu       sync.Mutex
	stalled  chan struct{} // closed when answering resumes; nil while answering
	reject   atomic.Bool   // answer 400 (a permanent error) at once
	received atomic.Int64
}

func startBackend(t *testing.T) *stallingBackend {
	b := &stallingBackend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if b.reject.Load() {
			http.Error(w, "bad request: rejected by the test", http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		wait := b.stalled
		b.mu.Unlock()
		if wait != nil {
			select {
			case <-wait:
			case <-r.Context().Done():
				return
			}
		}
		b.received.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() {
		b.Resume()
		b.srv.Close()
	})
	return b
}

func (b *stallingBackend) Stall() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stalled == nil {
		b.stalled = make(chan struct{})
	}
}

func (b *stallingBackend) Resume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stalled != nil {
		close(b.stalled)
		b.stalled = nil
	}
}

func metrics(n int, seq int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "load")
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("load_gauge")
	pts := g.SetEmptyGauge().DataPoints()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := range n {
		dp := pts.AppendEmpty()
		dp.Attributes().PutInt("series", int64(i))
		dp.SetTimestamp(now)
		dp.SetDoubleValue(float64(seq))
	}
	return md
}

// load sends OTLP to endpoint every interval until the test ends; refusals are expected.
func load(t *testing.T, endpoint string, every time.Duration) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			case <-ticker.C:
				_ = fleettest.TrySendOTLP(endpoint, metrics(50, seq))
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
}

type probe struct {
	Code int
	Body string
}

func getURL(url string) probe {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return probe{Body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return probe{Code: resp.StatusCode, Body: string(b)}
}

// waitFor polls url until cond holds and returns how long it took; it fails after limit.
func waitFor(t *testing.T, c *fleettest.Collector, url string, limit time.Duration, what string, cond func(probe) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last probe
	for time.Since(start) < limit {
		last = getURL(url)
		if cond(last) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last answer %d: %s\ncollector logs:\n%s", what, limit, last.Code, last.Body, tail(c.Logs(), 3000))
	return 0
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

const backpressureConfig = `
extensions:
  fleet_health:
    endpoint: 127.0.0.1:${env:FH_PORT}
    check_interval: 1s
    recovery_duration: 5s
    fleet:
      id: solo
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  otlp_http/backend:
    endpoint: http://127.0.0.1:${env:BACKEND_PORT}
    compression: none
    timeout: 2s
    sending_queue:
      enabled: true
      sizer: requests
      num_consumers: 1
      queue_size: 10
    retry_on_failure:
      enabled: true
      initial_interval: 100ms
      max_interval: 200ms
      max_elapsed_time: 3s
service:
  extensions: [fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [otlp_http/backend]
`

// TestE2EBackpressure: a destination that stops answering fills the exporter's small queue under
// load; /readyz turns 503 naming the exporter within two check intervals while /livez stays
// 200, and returns to 200 after `recovery_duration` once the destination answers again.
func TestE2EBackpressure(t *testing.T) {
	backend := startBackend(t)
	fhPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t)
	backendPort := backend.srv.Listener.Addr().(*net.TCPAddr).Port
	c := fleettest.StartCollector(t, backpressureConfig,
		fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort), fmt.Sprintf("BACKEND_PORT=%d", backendPort))
	base := fmt.Sprintf("http://127.0.0.1:%d", fhPort)
	otlp := fmt.Sprintf("127.0.0.1:%d", otlpPort)

	load(t, otlp, 20*time.Millisecond)
	waitFor(t, c, base+"/readyz", 10*time.Second, "ready while the backend answers", func(p probe) bool { return p.Code == http.StatusOK })
	require.Eventually(t, func() bool { return backend.received.Load() > 10 }, 10*time.Second, 50*time.Millisecond)
	healthcheck := buildHealthcheck(t)
	require.NoError(t, exec.Command(healthcheck, "-url", base+"/readyz").Run(), "healthcheck exits 0 while ready")

	// The backend stops answering.
	backend.Stall()
	took := waitFor(t, c, base+"/readyz", 2*checkInterval, "503 within two check intervals of the backend stalling",
		func(p probe) bool { return p.Code == http.StatusServiceUnavailable })
	t.Logf("/readyz turned 503 %s after the backend stopped answering", took.Round(10*time.Millisecond))
	p := getURL(base + "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, p.Code)
	require.Contains(t, p.Body, `"component": "exporter/otlp_http/backend"`, p.Body)
	require.Contains(t, p.Body, "otlp_http/backend sending queue is")

	err := exec.Command(healthcheck, "-url", base+"/readyz").Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "healthcheck exits 1 while not ready")
	require.Equal(t, 1, exit.ExitCode())

	// Liveness stays calm for as long as the backend is stalled (a few check intervals).
	for range 3 * int(checkInterval/(100*time.Millisecond)) {
		require.Equal(t, http.StatusOK, getURL(base+"/livez").Code)
		require.Equal(t, http.StatusOK, getURL(base+"/").Code)
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, exec.Command(healthcheck, "-url", base+"/livez").Run())

	var st struct {
		Verdict   string `json:"verdict"`
		Exporters []struct {
			ID               string   `json:"id"`
			QueueCapacity    *float64 `json:"queue_capacity"`
			QueueUtilization *float64 `json:"queue_utilization"`
			EnqueueFailed    float64  `json:"enqueue_failed"`
		} `json:"exporters"`
		Actions           []string `json:"actions"`
		TelemetryEndpoint string   `json:"telemetry_endpoint"`
	}
	require.NoError(t, json.Unmarshal([]byte(getURL(base+"/status").Body), &st))
	require.Equal(t, "not_ready", st.Verdict)
	require.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", c.TelemetryPort), st.TelemetryEndpoint, "found in service::telemetry")
	require.Len(t, st.Exporters, 1)
	require.Equal(t, "otlp_http/backend", st.Exporters[0].ID)
	require.NotNil(t, st.Exporters[0].QueueCapacity)
	require.InDelta(t, 10, *st.Exporters[0].QueueCapacity, 0)
	require.GreaterOrEqual(t, *st.Exporters[0].QueueUtilization, 0.8)
	require.NotEmpty(t, st.Actions)

	// Self-metrics say the same, for dashboards and autoscalers.
	m := c.Metrics(t)
	require.InDelta(t, 0, m[`otelcol_extension_fleet_health_readiness{extension="fleet_health"}`], 0, metricKeys(m, "fleet_health"))
	require.GreaterOrEqual(t, m[`otelcol_extension_fleet_health_utilization{extension="fleet_health",signal="queue"}`], 0.8, metricKeys(m, "fleet_health"))

	// The backend answers again: ready after `recovery_duration` (5s), not before, not much after.
	backend.Resume()
	resumed := time.Now()
	took = waitFor(t, c, base+"/readyz", 5*time.Second+3*checkInterval, "200 within recovery_duration after the backend is back",
		func(p probe) bool { return p.Code == http.StatusOK })
	t.Logf("/readyz back to 200 %s after the backend answered again", took.Round(10*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(resumed), 5*time.Second, "hysteresis: healthy for the whole recovery period first")
	require.NoError(t, exec.Command(healthcheck, "-url", base+"/readyz").Run())
	require.True(t, strings.Contains(c.Logs(), "Collector is not ready: /readyz answers 503."), "the change to not ready is logged")
	// Readiness is decided when asked; the log line follows at the next check.
	require.Eventually(t, func() bool { return strings.Contains(c.Logs(), "Collector is ready again: /readyz answers 200.") },
		3*checkInterval, 50*time.Millisecond, "the change back to ready is logged")
}

// TestE2ESendFailures: a destination that answers at once but rejects everything leaves the queue
// empty and every component status OK; the send failure ratio still turns /readyz 503.
func TestE2ESendFailures(t *testing.T) {
	backend := startBackend(t)
	fhPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t)
	c := fleettest.StartCollector(t, backpressureConfig,
		fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort),
		fmt.Sprintf("BACKEND_PORT=%d", backend.srv.Listener.Addr().(*net.TCPAddr).Port))
	base := fmt.Sprintf("http://127.0.0.1:%d", fhPort)
	load(t, fmt.Sprintf("127.0.0.1:%d", otlpPort), 20*time.Millisecond)
	waitFor(t, c, base+"/readyz", 10*time.Second, "ready while the backend accepts", func(p probe) bool { return p.Code == http.StatusOK })

	backend.reject.Store(true)
	took := waitFor(t, c, base+"/readyz", 2*checkInterval, "503 within two check intervals of the backend rejecting",
		func(p probe) bool { return p.Code == http.StatusServiceUnavailable })
	t.Logf("/readyz turned 503 %s after the backend started rejecting", took.Round(10*time.Millisecond))
	p := getURL(base + "/readyz")
	require.Contains(t, p.Body, `"signal": "send_failure"`, p.Body)
	require.Contains(t, p.Body, `"component": "exporter/otlp_http/backend"`)
	require.Contains(t, p.Body, "otlp_http/backend failed 100% of items")
	require.Contains(t, p.Body, "Fix the destination of exporter otlp_http/backend")
	require.NotContains(t, p.Body, `"signal": "queue"`, "the queue is empty: 400s are not retried")
	require.Equal(t, http.StatusOK, getURL(base+"/livez").Code)
}

func metricKeys(m map[string]float64, contains string) string {
	var keys []string
	for k := range m {
		if strings.Contains(k, contains) {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, "\n")
}

// TestE2EMemoryPressure: resident memory against a low memory_limiter limit turns /readyz 503;
// under load, the limiter's refusals show up as the receiver's refused ratio too.
func TestE2EMemoryPressure(t *testing.T) {
	fhPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t)
	c := fleettest.StartCollector(t, `
extensions:
  fleet_health:
    endpoint: 127.0.0.1:${env:FH_PORT}
    check_interval: 1s
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  # Far below what the collector itself needs: it refuses everything and its resident
  # memory is over the limit from the start.
  memory_limiter:
    check_interval: 100ms
    limit_mib: 6
    spike_limit_mib: 1
exporters:
  debug:
    verbosity: basic
service:
  extensions: [fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [memory_limiter]
      exporters: [debug]
`, fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort))
	base := fmt.Sprintf("http://127.0.0.1:%d", fhPort)
	waitFor(t, c, base+"/readyz", 3*checkInterval, "503 for memory", func(p probe) bool {
		return p.Code == http.StatusServiceUnavailable && strings.Contains(p.Body, `"signal": "memory"`)
	})
	p := getURL(base + "/readyz")
	require.Contains(t, p.Body, "of the memory_limiter limit")
	require.Contains(t, p.Body, "MiB of 6 MiB)", p.Body)
	require.Contains(t, p.Body, "Provision more memory")
	require.Equal(t, http.StatusOK, getURL(base+"/livez").Code)

	load(t, fmt.Sprintf("127.0.0.1:%d", otlpPort), 20*time.Millisecond)
	waitFor(t, c, base+"/readyz", 3*checkInterval, "refusals named", func(p probe) bool {
		return strings.Contains(p.Body, `"component": "receiver/otlp"`)
	})
	p = getURL(base + "/readyz")
	require.Contains(t, p.Body, `"signal": "refused"`, p.Body)
	require.Regexp(t, `receiver otlp refused [0-9.]+% of incoming items in the last`, p.Body)
	var st struct {
		Memory struct {
			LimitSource    string  `json:"limit_source"`
			LimitBytes     float64 `json:"limit_bytes"`
			LimiterRefused float64 `json:"memory_limiter_refused"`
		} `json:"memory"`
	}
	require.NoError(t, json.Unmarshal([]byte(getURL(base+"/status").Body), &st))
	require.Equal(t, "memory_limiter", st.Memory.LimitSource)
	require.InDelta(t, 6<<20, st.Memory.LimitBytes, 0)
	require.Positive(t, st.Memory.LimiterRefused, "memory_limiter's own refusals over the last interval")
}

// memberConfig is a collector that reports over OpAMP to opampURL (when set) and serves OpAMP
// on $OPAMP_PORT (when serve).
func memberConfig(opampURL string, serve bool) string {
	extra := ""
	if opampURL != "" {
		extra += "\n    opamp:\n      endpoint: " + opampURL
	}
	if serve {
		extra += "\n    opamp_server:\n      endpoint: 127.0.0.1:${env:OPAMP_PORT}"
	}
	return `
extensions:
  fleet_health:
    endpoint: 127.0.0.1:${env:FH_PORT}
    check_interval: 500ms
    fleet:
      id: ${env:FLEET_ID}
      role: ${env:FLEET_ROLE}
      stale_after: 3s` + extra + `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  debug:
    verbosity: basic
service:
  extensions: [fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [debug]
`
}

type fleetView struct {
	Counts  map[string]int `json:"counts"`
	Members []struct {
		ID      string `json:"id"`
		Role    string `json:"role"`
		State   string `json:"state"`
		Verdict string `json:"verdict"`
		Self    bool   `json:"self"`
	} `json:"members"`
}

func states(v fleetView) map[string]string {
	out := map[string]string{}
	for _, m := range v.Members {
		out[m.ID] = m.State
	}
	return out
}

// TestE2EFleet: two members report to a third; one killed shows as missing after stale_after;
// the page renders members and verdicts in headless Chromium.
func TestE2EFleet(t *testing.T) {
	gwPort, opampPort := fleettest.FreePort(t), fleettest.FreePort(t)
	gateway := fleettest.StartCollector(t, memberConfig("", true),
		fmt.Sprintf("FH_PORT=%d", gwPort), fmt.Sprintf("OTLP_PORT=%d", fleettest.FreePort(t)), fmt.Sprintf("OPAMP_PORT=%d", opampPort), "FLEET_ID=gateway-1", "FLEET_ROLE=gateway")
	gw := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	opampURL := fmt.Sprintf("ws://127.0.0.1:%d/v1/opamp", opampPort)
	members := map[string]*fleettest.Collector{}
	for _, id := range []string{"agent-a", "agent-b"} {
		members[id] = fleettest.StartCollector(t, memberConfig(opampURL, false),
			fmt.Sprintf("FH_PORT=%d", fleettest.FreePort(t)), fmt.Sprintf("OTLP_PORT=%d", fleettest.FreePort(t)), "FLEET_ID="+id, "FLEET_ROLE=agent")
	}
	read := func() fleetView {
		var v fleetView
		_ = json.Unmarshal([]byte(getURL(gw+"/fleet").Body), &v)
		return v
	}
	waitFor(t, gateway, gw+"/fleet", 10*time.Second, "both members in /fleet", func(probe) bool {
		s := states(read())
		return s["agent-a"] == "ready" && s["agent-b"] == "ready" && s["gateway-1"] == "ready"
	})
	v := read()
	require.Equal(t, "gateway-1", v.Members[0].ID)
	require.True(t, v.Members[0].Self)
	require.Equal(t, "agent", v.Members[1].Role)
	require.Equal(t, "ready", v.Members[1].Verdict)

	dom := fleettest.DumpDOM(t, gw+"/fleet.html")
	require.Contains(t, dom, `data-live="1"`, "the page's script refreshed it from /fleet")
	// Each row: member, role, state, verdict (as the script renders them).
	require.Contains(t, dom, `<tr data-member="agent-a" data-state="ready"><td>agent-a</td><td>agent</td><td class="state-ready">ready</td><td>ready</td>`)
	require.Contains(t, dom, `<tr data-member="agent-b" data-state="ready"><td>agent-b</td><td>agent</td><td class="state-ready">ready</td><td>ready</td>`)
	require.Contains(t, dom, `<tr data-member="gateway-1" data-state="ready"><td>gateway-1 (this collector)</td><td>gateway</td>`)
	require.Contains(t, dom, `ready: 3`)

	members["agent-b"].Kill(t)
	killed := time.Now()
	took := waitFor(t, gateway, gw+"/fleet", 3*time.Second+3*time.Second, "agent-b missing", func(probe) bool {
		s := states(read())
		return s["agent-b"] == "missing" && s["agent-a"] == "ready"
	})
	t.Logf("agent-b shown missing %s after SIGKILL (stale_after 3s)", took.Round(10*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(killed), 2500*time.Millisecond, "not before stale_after")
	require.Equal(t, map[string]int{"ready": 2, "not_ready": 0, "missing": 1}, read().Counts)

	dom = fleettest.DumpDOM(t, gw+"/fleet")
	require.Contains(t, dom, `data-live="1"`)
	require.Contains(t, dom, `<tr data-member="agent-b" data-state="missing"><td>agent-b</td><td>agent</td><td class="state-missing">missing</td><td>ready</td>`,
		"missing, with the last verdict it reported")
	require.Contains(t, dom, `missing: 1`)
	m := gateway.Metrics(t)
	require.InDelta(t, 1, m[`otelcol_extension_fleet_health_members{extension="fleet_health",state="missing"}`], 0, metricKeys(m, "members"))
}

func buildHealthcheck(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(fleettest.RepoRoot(), "distribution", "_build", "healthcheck")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	bin = filepath.Join(t.TempDir(), "healthcheck")
	cmd := exec.Command("go", "build", "-o", bin, "./distribution/healthcheck")
	cmd.Dir = fleettest.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// TestE2EOwnComponentsFigures: with series_guard and ordered_rw in the pipeline, /status shows
// their figures (read from their self-metrics) next to the generic ones.
func TestE2EOwnComponentsFigures(t *testing.T) {
	prom := fleettest.StartPrometheus(t)
	fhPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t)
	c := fleettest.StartCollector(t, `
extensions:
  fleet_health:
    endpoint: 127.0.0.1:${env:FH_PORT}
    check_interval: 1s
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  series_guard:
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
service:
  extensions: [fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [series_guard]
      exporters: [ordered_rw]
`, fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort), "RW_URL="+prom.RemoteWriteURL())
	base := fmt.Sprintf("http://127.0.0.1:%d", fhPort)
	load(t, fmt.Sprintf("127.0.0.1:%d", otlpPort), 100*time.Millisecond)
	ownFigure := func(name string) bool {
		return strings.HasPrefix(name, "otelcol_processor_series_guard_") || strings.HasPrefix(name, "otelcol_exporter_ordered_rw_")
	}
	names := func(keys []string) map[string]bool {
		out := map[string]bool{}
		for _, k := range keys {
			name, _, _ := strings.Cut(k, "{")
			if ownFigure(name) {
				out[name] = true
			}
		}
		return out
	}
	// Every such figure the collector exposes must show up in /status.
	var exposed, shown map[string]bool
	waitFor(t, c, base+"/status", 10*time.Second, "series_guard and ordered_rw figures in /status", func(p probe) bool {
		var keys []string
		for k := range c.Metrics(t) {
			keys = append(keys, k)
		}
		exposed = names(keys)
		var st struct {
			Extra map[string]float64 `json:"extra"`
		}
		if json.Unmarshal([]byte(p.Body), &st) != nil {
			return false
		}
		keys = keys[:0]
		for k := range st.Extra {
			keys = append(keys, k)
		}
		shown = names(keys)
		if len(exposed) == 0 {
			return false
		}
		for name := range exposed {
			if !shown[name] {
				return false
			}
		}
		return true
	})
	t.Logf("figures shown in /status extra: %v", shown)
}

// TestE2ERemoteWriteToPausedPrometheus: the distribution's own exporter against a real
// Prometheus that stops answering (SIGSTOP) and comes back (SIGCONT).
func TestE2ERemoteWriteToPausedPrometheus(t *testing.T) {
	prom := fleettest.StartPrometheus(t)
	fhPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t)
	c := fleettest.StartCollector(t, `
extensions:
  fleet_health:
    endpoint: 127.0.0.1:${env:FH_PORT}
    check_interval: 1s
    recovery_duration: 5s
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  prometheus_remote_write:
    endpoint: ${env:RW_URL}
    timeout: 2s
    remote_write_queue:
      enabled: true
      queue_size: 10
      num_consumers: 1
    retry_on_failure:
      enabled: true
      initial_interval: 100ms
      max_interval: 200ms
      max_elapsed_time: 3s
service:
  extensions: [fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [prometheus_remote_write]
`, fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort), "RW_URL="+prom.RemoteWriteURL())
	base := fmt.Sprintf("http://127.0.0.1:%d", fhPort)
	load(t, fmt.Sprintf("127.0.0.1:%d", otlpPort), 20*time.Millisecond)
	waitFor(t, c, base+"/readyz", 10*time.Second, "ready while Prometheus answers", func(p probe) bool { return p.Code == http.StatusOK })
	require.Eventually(t, func() bool { return prom.QueryScalar(t, "count(load_gauge)") > 0 }, 15*time.Second, 200*time.Millisecond)

	prom.Pause(t)
	took := waitFor(t, c, base+"/readyz", 2*checkInterval, "503 within two check intervals of Prometheus stopping",
		func(p probe) bool { return p.Code == http.StatusServiceUnavailable })
	t.Logf("/readyz turned 503 %s after Prometheus was paused", took.Round(10*time.Millisecond))
	p := getURL(base + "/readyz")
	require.Contains(t, p.Body, `"component": "exporter/prometheus_remote_write"`, p.Body)
	var rd struct {
		Reasons []struct {
			Message string `json:"message"`
		} `json:"reasons"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.Body), &rd))
	for _, r := range rd.Reasons {
		t.Logf("reason: %s", r.Message)
	}
	require.Equal(t, http.StatusOK, getURL(base+"/livez").Code)

	prom.Resume(t)
	resumed := time.Now()
	took = waitFor(t, c, base+"/readyz", 5*time.Second+5*checkInterval, "200 after Prometheus is back",
		func(p probe) bool { return p.Code == http.StatusOK })
	t.Logf("/readyz back to 200 %s after Prometheus resumed", took.Round(10*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(resumed), 5*time.Second)
}

// TestE2EDeprecatedRecoveryKey: a config written before `recovery` became `recovery_duration`
// still starts, with one warning naming the replacement, and the value is honoured.
func TestE2EDeprecatedRecoveryKey(t *testing.T) {
	c, _, _ := startReady(t, "recovery: 7s")
	warning := `retired setting "extensions.fleet_health.recovery" rewritten to "extensions.fleet_health.recovery_duration"; put this in the config instead: recovery_duration: 7s`
	require.Equal(t, 1, strings.Count(c.Logs(), warning), "one warning naming the replacement:\n%s", tail(c.Logs(), 3000))
	// The start log names the setting in effect (zap writes durations in seconds).
	require.Regexp(t, `"recovery_duration": 7[,}]`, c.Logs(), "the old key's value is the one in effect")
}

// TestE2EStartupPagesGivenBack: the built collector, once ready, holds far fewer of its binary's
// pages with release_startup_pages (the default) than without, and says so once in its log.
func TestE2EStartupPagesGivenBack(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs Linux's /proc")
	}
	fileRSS := map[bool]int64{}
	for _, release := range []bool{true, false} {
		c, base, _ := startReady(t, fmt.Sprintf("release_startup_pages: %t", release))
		// A few checks and probes run the paths a ready collector runs, faulting their pages back.
		for range 3 {
			getURL(base + "/readyz")
			time.Sleep(time.Second)
		}
		mem, err := bench.ReadProcMemory(c.Pid())
		require.NoError(t, err)
		fileRSS[release] = mem.RSSFile
		gave := strings.Count(c.Logs(), "Gave back the binary's pages that only the start touched.")
		if release {
			require.Equal(t, 1, gave, "logged once:\n%s", tail(c.Logs(), 3000))
		} else {
			require.Zero(t, gave)
		}
		c.Stop(t)
	}
	t.Logf("file-backed RSS once ready: %d MB given back, %d MB kept", fileRSS[true]>>20, fileRSS[false]>>20)
	require.Less(t, fileRSS[true], fileRSS[false]/2, "most of the binary's pages given back and not faulted in again")
}

// TestE2EGCHeadroomUnderLoad: the built collector with fleet_health's default gc_headroom_mib
// says at start that it keeps the GC's headroom, under OTLP load raises GOGC above its own 100,
// and once the load stops sets it back (both logged at Debug); with gc_headroom_mib 0 it does
// none of that.
func TestE2EGCHeadroomUnderLoad(t *testing.T) {
	const keeping = "Keeping the garbage collector's headroom at a second's allocation while busy."
	const set = "Set the garbage collector's GOGC for the allocation rate."
	gen := loadgen.New(loadgen.Config{Metric: "gc_headroom_e2e", Series: 20_000, ServiceName: "gc-headroom", Start: time.Now()})
	for _, headroom := range []int{16, 0} {
		t.Run(fmt.Sprint("gc_headroom_mib=", headroom), func(t *testing.T) {
			c, _, otlp := startReady(t, fmt.Sprintf("gc_headroom_mib: %d", headroom), "--set=service.telemetry.logs.level=debug")
			// ~20k points a request, decoded and dropped by the debug exporter: megabytes of
			// garbage each, far more than GOGC 100 gives a live heap of a few MB.
			deadline := time.Now().Add(20 * time.Second)
			for step := 0; time.Now().Before(deadline); step++ {
				fleettest.SendOTLP(t, otlp, gen.Batch(step, 0, 20_000))
				if headroom > 0 && strings.Contains(c.Logs(), set) {
					break
				}
				if headroom == 0 && step == 50 {
					break
				}
			}
			logs := c.Logs()
			if headroom == 0 {
				require.NotContains(t, logs, keeping)
				require.NotContains(t, logs, set)
				c.Stop(t)
				return
			}
			require.Equal(t, 1, strings.Count(logs, keeping), "said once at start:\n%s", tail(logs, 3000))
			require.Regexp(t, `"gc_headroom_mib": 16, "gogc_at_rest": 100`, logs)
			raised := regexp.MustCompile(regexp.QuoteMeta(set) + `[^\n]*"from": 100, "to": [1-9][0-9]{2,}[^\n]*`)
			line := raised.FindString(logs)
			require.NotEmpty(t, line, "GOGC raised under load:\n%s", tail(logs, 3000))
			t.Log(line)
			// The load stopped: within a few check_intervals (1 s here), not at the next
			// collection, GOGC is the process' own again.
			lowered := regexp.MustCompile(regexp.QuoteMeta(set) + `[^\n]*"to": 100,`)
			require.Eventually(t, func() bool { return lowered.MatchString(c.Logs()) }, 15*time.Second, 100*time.Millisecond,
				"GOGC back to 100 at rest:\n%s", tail(c.Logs(), 3000))
			c.Stop(t)
		})
	}
}

// startReady starts the built collector with fleet_health (check_interval 1s, and key, one
// line of its section) over an OTLP to debug pipeline, with args on its command line, and waits
// until /readyz answers 200. It returns the collector, fleet_health's base URL and the OTLP/HTTP
// endpoint.
func startReady(t *testing.T, key string, args ...string) (*fleettest.Collector, string, string) {
	t.Helper()
	fhPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t)
	c := fleettest.StartCollectorWithArgs(t, `
extensions:
  fleet_health:
    endpoint: 127.0.0.1:${env:FH_PORT}
    check_interval: 1s
    `+key+`
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  debug:
service:
  extensions: [fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [debug]
`, args, fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort))
	base := fmt.Sprintf("http://127.0.0.1:%d", fhPort)
	waitFor(t, c, base+"/readyz", 10*time.Second, "ready", func(p probe) bool { return p.Code == http.StatusOK })
	return c, base, fmt.Sprintf("127.0.0.1:%d", otlpPort)
}
