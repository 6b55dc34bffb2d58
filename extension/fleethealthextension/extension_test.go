package fleethealthextension

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
	"github.com/otelcol-fleet/otelcol-fleet/internal/gcheadroom"
)

// fakeClock is the injected clock; tests move it by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSource is a fake signal source: it answers whatever the test set last, stamped with the
// fake clock, and counts reads so tests can wait for a check to have happened.
type fakeSource struct {
	mu    sync.Mutex
	clock *fakeClock
	snap  signals.Snapshot
	err   error
	reads int
}

func (s *fakeSource) Set(snap signals.Snapshot, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap, s.err = snap, err
}

func (s *fakeSource) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *fakeSource) Read(context.Context) (signals.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	snap := s.snap
	snap.Time = s.clock.Now()
	return snap, s.err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

type harness struct {
	ext    *fleetHealth
	source *fakeSource
	clock  *fakeClock
	tel    *componenttest.Telemetry
	base   string
}

func startExtension(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	return startExtensionWith(t, mutate, true)
}

// startExtensionWith starts the extension; with fake false it reads the real telemetry URL.
func startExtensionWith(t *testing.T, mutate func(*Config), fake bool) *harness {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = freeAddr(t)
	cfg.CheckInterval = 20 * time.Millisecond
	cfg.Fleet.ID = "self"
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	fleetViewTTL = time.Nanosecond // every GET /fleet renders afresh
	tel := componenttest.NewTelemetry()
	set := extensiontest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	ext, err := newFleetHealth(cfg, set, clock.Now)
	require.NoError(t, err)
	src := &fakeSource{clock: clock}
	if fake {
		ext.source = src
	}
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		require.NoError(t, ext.Shutdown(context.Background()))
		require.NoError(t, tel.Shutdown(context.Background()))
	})
	return &harness{ext: ext, source: src, clock: clock, tel: tel, base: "http://" + cfg.NetAddr.Endpoint}
}

// waitChecks waits until n more checks have read the source, so the next answer reflects it.
func (h *harness) waitChecks(t *testing.T, n int) {
	t.Helper()
	start := h.source.Reads()
	require.Eventually(t, func() bool { return h.source.Reads() >= start+n }, 5*time.Second, 5*time.Millisecond)
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func queueSnap(size float64) signals.Snapshot {
	return signals.Snapshot{Exporters: map[string]signals.ExporterFigures{
		"otlp_http/backend": {HasQueue: true, QueueSize: size, QueueCapacity: 10},
	}}
}

func TestReadinessFollowsSignalsAndLivenessStaysCalm(t *testing.T) {
	h := startExtension(t, nil)
	h.source.Set(queueSnap(1), nil)

	code, body := get(t, h.base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code, "not ready before the pipelines are")
	require.Contains(t, body, `"verdict": "starting"`)
	code, _ = get(t, h.base+"/livez")
	require.Equal(t, http.StatusOK, code)
	code, body = get(t, h.base+"/")
	require.Equal(t, http.StatusServiceUnavailable, code, "`/` as health_check: not available before the pipelines run")
	require.Contains(t, body, `"status":"Server not available"`)

	require.NoError(t, h.ext.Ready())
	h.waitChecks(t, 1)
	code, body = get(t, h.base+"/readyz")
	require.Equal(t, http.StatusOK, code, body)

	// The queue fills: not ready, naming the exporter; alive all along.
	h.source.Set(queueSnap(9), nil)
	h.waitChecks(t, 2)
	code, body = get(t, h.base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, `"component": "exporter/otlp_http/backend"`)
	require.Contains(t, body, "sending queue is 90% full")
	require.Contains(t, body, "scale out")
	code, body = get(t, h.base+"/livez")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"status": "alive"`)
	code, body = get(t, h.base+"/")
	require.Equal(t, http.StatusOK, code, "`/` as health_check: backpressure is /readyz's")
	require.Contains(t, body, `"status":"Server available"`)

	var st struct {
		ID        string `json:"id"`
		Verdict   string `json:"verdict"`
		Exporters []struct {
			ID               string  `json:"id"`
			QueueUtilization float64 `json:"queue_utilization"`
		} `json:"exporters"`
		Actions []string `json:"actions"`
		Memory  struct {
			LimitSource string `json:"limit_source"`
		} `json:"memory"`
	}
	code, body = get(t, h.base+"/status")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, "self", st.ID)
	require.Equal(t, "not_ready", st.Verdict)
	require.Equal(t, "otlp_http/backend", st.Exporters[0].ID)
	require.InDelta(t, 0.9, st.Exporters[0].QueueUtilization, 1e-9)
	require.NotEmpty(t, st.Actions)
	require.NotEmpty(t, st.Memory.LimitSource)

	// Healthy again: not ready until `recovery_duration` has passed on the clock.
	h.source.Set(queueSnap(0), nil)
	h.waitChecks(t, 2)
	code, body = get(t, h.base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, `"verdict": "recovering"`)
	h.clock.Advance(29 * time.Second)
	code, _ = get(t, h.base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	h.clock.Advance(time.Second)
	code, body = get(t, h.base+"/readyz")
	require.Equal(t, http.StatusOK, code, body)

	require.NoError(t, h.ext.NotReady())
	code, body = get(t, h.base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, `"verdict": "stopping"`)
	code, _ = get(t, h.base+"/")
	require.Equal(t, http.StatusServiceUnavailable, code, "`/` as health_check: not available once shutdown began")
	code, _ = get(t, h.base+"/livez")
	require.Equal(t, http.StatusOK, code, "alive until the process stops")
}

func TestPermanentComponentErrorIsNotReady(t *testing.T) {
	h := startExtension(t, nil)
	require.NoError(t, h.ext.Ready())
	h.waitChecks(t, 1)
	id := componentstatus.NewInstanceID(component.MustNewIDWithName("prometheus_remote_write", "amp"), component.KindExporter)
	h.ext.Changed(id, componentstatus.NewRecoverableErrorEvent(errors.New("503 from amp")))
	code, _ := get(t, h.base+"/readyz")
	require.Equal(t, http.StatusOK, code, "recoverable errors are retried, not a readiness problem")

	h.ext.Changed(id, componentstatus.NewPermanentErrorEvent(errors.New("403 forbidden")))
	code, body := get(t, h.base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "exporter prometheus_remote_write/amp reported PermanentError: 403 forbidden")
}

func TestTelemetryReadFailureIsShownNotJudged(t *testing.T) {
	h := startExtension(t, nil)
	require.NoError(t, h.ext.Ready())
	h.source.Set(signals.Snapshot{}, errors.New("connection refused"))
	h.waitChecks(t, 2)
	code, body := get(t, h.base+"/readyz")
	require.Equal(t, http.StatusOK, code, body)
	_, body = get(t, h.base+"/status")
	require.Contains(t, body, `"telemetry_error": "connection refused"`)

	checks, err := h.tel.GetMetric("otelcol_extension_fleet_health_checks")
	require.NoError(t, err)
	found := false
	for _, dp := range checks.Data.(metricdata.Sum[int64]).DataPoints {
		if v, _ := dp.Attributes.Value("outcome"); v.AsString() == "scrape_failed" && dp.Value >= 2 {
			found = true
		}
	}
	require.True(t, found, "failed reads are counted with outcome=scrape_failed")
}

func TestSelfMetrics(t *testing.T) {
	h := startExtension(t, nil)
	require.NoError(t, h.ext.Ready())
	h.source.Set(queueSnap(9), nil)
	h.waitChecks(t, 2)

	readiness, err := h.tel.GetMetric("otelcol_extension_fleet_health_readiness")
	require.NoError(t, err)
	dps := readiness.Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, dps, 1)
	require.Equal(t, int64(0), dps[0].Value)
	ext, _ := dps[0].Attributes.Value("extension")
	require.Equal(t, h.ext.set.ID.String(), ext.AsString())
	require.True(t, strings.HasPrefix(ext.AsString(), "fleet_health"))

	util, err := h.tel.GetMetric("otelcol_extension_fleet_health_utilization")
	require.NoError(t, err)
	bySignal := map[string]float64{}
	for _, dp := range util.Data.(metricdata.Gauge[float64]).DataPoints {
		s, _ := dp.Attributes.Value("signal")
		bySignal[s.AsString()] = dp.Value
	}
	require.InDelta(t, 0.9, bySignal["queue"], 1e-9)
	require.Contains(t, bySignal, "send_failure")
	require.Contains(t, bySignal, "refused")
}

func TestConfigSnapshotLocatesTelemetryAndMemoryLimit(t *testing.T) {
	page := "# TYPE otelcol_process_memory_rss gauge\notelcol_process_memory_rss 9.5e+08\n"
	var encodings sync.Map
	telemetry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings.Store(r.Header.Get("Accept-Encoding"), true)
		_, _ = io.WriteString(w, page)
	}))
	defer telemetry.Close()
	port := telemetry.Listener.Addr().(*net.TCPAddr).Port

	h := startExtensionWith(t, nil, false)
	effective := confmap.NewFromStringMap(map[string]any{
		"processors": map[string]any{"memory_limiter": map[string]any{"limit_mib": 1000, "check_interval": "1s"}},
		"service": map[string]any{"telemetry": map[string]any{"metrics": map[string]any{"readers": []any{
			map[string]any{"pull": map[string]any{"exporter": map[string]any{"prometheus": map[string]any{"host": "0.0.0.0", "port": port}}}},
		}}}},
	})
	require.NoError(t, h.ext.NotifyConfigSnapshot(context.Background(), extensioncapabilities.NewConfigSnapshot(effective, effective)))
	require.NoError(t, h.ext.Ready())
	require.Eventually(t, func() bool {
		code, _ := get(t, h.base+"/readyz")
		return code == http.StatusServiceUnavailable
	}, 5*time.Second, 10*time.Millisecond)
	_, body := get(t, h.base+"/status")
	require.Contains(t, body, fmt.Sprintf(`"telemetry_endpoint": "http://localhost:%d/metrics"`, port))
	require.Contains(t, body, `"limit_source": "memory_limiter"`)
	require.Contains(t, body, "resident memory is 91% of the memory_limiter limit (906 MiB of 1000 MiB)")
	// The page comes over loopback: the check does not ask the collector to gzip it.
	encodings.Range(func(k, _ any) bool {
		require.Empty(t, k, "Accept-Encoding of the check's scrape")
		return true
	})
	_, asked := encodings.Load("")
	require.True(t, asked, "the check scraped the telemetry endpoint")
}

// withOpAMPServer turns the server side on, on a free local port; it returns the agents' URL.
func withOpAMPServer(t *testing.T, c *Config, scheme string) string {
	sc := defaultOpAMPServerConfig()
	sc.NetAddr.Endpoint = freeAddr(t)
	c.OpAMPServer = configoptional.Some(sc)
	return scheme + "://" + sc.NetAddr.Endpoint + "/v1/opamp"
}

func TestFleetReportingAndMissingMembers(t *testing.T) {
	for _, scheme := range []string{"ws", "http"} {
		t.Run(scheme, func(t *testing.T) { testFleetReporting(t, scheme) })
	}
}

// testFleetReporting: two agents report over OpAMP to a third collector's server side.
func testFleetReporting(t *testing.T, scheme string) {
	var opampURL string
	gw := startExtension(t, func(c *Config) {
		c.Fleet.ID = "gw-1"
		c.Fleet.Role = "gateway"
		c.Fleet.StaleAfter = 30 * time.Second
		opampURL = withOpAMPServer(t, c, scheme)
	})
	require.NoError(t, gw.ext.Ready())
	members := make([]*harness, 2)
	for i := range members {
		members[i] = startExtension(t, func(c *Config) {
			c.Fleet.ID = fmt.Sprintf("agent-%d", i)
			c.Fleet.Role = "agent"
			c.OpAMP.Endpoint = opampURL
		})
		require.NoError(t, members[i].ext.Ready())
	}
	members[1].source.Set(queueSnap(10), nil)

	read := func() view {
		_, body := get(t, gw.base+"/fleet")
		var v view
		require.NoError(t, json.Unmarshal([]byte(body), &v))
		return v
	}
	// The health (verdict, reasons) and the figures (signals) reach the gateway in separate OpAMP
	// messages, so the view may show agent-1's reasons a report before its signals: wait for both.
	require.Eventually(t, func() bool {
		v := read()
		return len(v.Members) == 3 && v.Members[1].Verdict == "not_ready" && len(v.Members[1].Reasons) > 0 &&
			v.Members[1].Signals["queue"] > 0 && byID(v, "agent-0").State == fleet.StateReady
	}, 10*time.Second, 10*time.Millisecond)
	v := read()
	require.Equal(t, "gw-1", v.Members[0].ID)
	require.True(t, v.Members[0].Self)
	require.NotNil(t, v.Members[0].Trend, "this collector's own trend, from its checks")
	// Then worst first: agent-1 (not ready), agent-0.
	require.Equal(t, "agent-1", v.Members[1].ID)
	require.Equal(t, fleet.StateNotReady, v.Members[1].State)
	require.Equal(t, "agent-0", v.Members[2].ID)
	require.Equal(t, "agent", v.Members[2].Role)
	require.Equal(t, fleet.StateReady, v.Members[2].State)
	v.Members[1], v.Members[2] = v.Members[2], v.Members[1]
	require.Contains(t, v.Members[2].Reasons[0], "sending queue is 100% full")
	require.InDelta(t, 1, v.Members[2].Signals["queue"], 1e-9)
	require.Equal(t, "agent", v.Members[2].Role)
	require.NotEmpty(t, v.Members[2].InstanceUID)
	require.NotNil(t, v.Members[2].Trend, "figures feed the trend")

	// agent-0 stops: after stale_after on the gateway's clock it is missing; agent-1 keeps reporting.
	require.NoError(t, members[0].ext.Shutdown(context.Background()))
	// A report agent-0 sent just before it stopped may still be on its way into the gateway,
	// which records it although the sender gave up. Let it land before the clock jumps: wait
	// until agent-1, which keeps reporting, has been heard five more times at newer times.
	for range 5 {
		gw.clock.Advance(time.Millisecond)
		now := gw.clock.Now()
		require.Eventually(t, func() bool { return !byID(read(), "agent-1").LastSeen.Before(now) }, 5*time.Second, 5*time.Millisecond)
	}
	gw.clock.Advance(30 * time.Second)
	var last view
	require.Eventually(t, func() bool {
		last = read()
		return byID(last, "agent-0").State == fleet.StateMissing && byID(last, "agent-1").State == fleet.StateNotReady
	}, 5*time.Second, 10*time.Millisecond, "%+v", &last)
	require.Equal(t, map[string]int{"ready": 1, "not_ready": 1, "missing": 1}, read().Counts)

	// The page, by content negotiation and by name.
	for _, req := range [][]string{{"/fleet", "Accept", "text/html,application/xhtml+xml"}, {"/fleet.html"}} {
		code, page := get(t, gw.base+req[0], req[1:]...)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, page, `<tr data-member="agent-0" data-state="missing">`)
		require.Contains(t, page, `<tr data-member="agent-1" data-state="not_ready">`)
	}

	require.Equal(t, map[string]int64{"ready": 0, "not_ready": 1, "missing": 1}, gwMembersMetric(t, gw))
}

type view struct {
	Counts  map[string]int `json:"counts"`
	Members []fleet.Member `json:"members"`
}

func byID(v view, id string) fleet.Member {
	for _, m := range v.Members {
		if m.ID == id {
			return m
		}
	}
	return fleet.Member{}
}

func gwMembersMetric(t *testing.T, h *harness) map[string]int64 {
	m, err := h.tel.GetMetric("otelcol_extension_fleet_health_members")
	require.NoError(t, err)
	out := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		s, _ := dp.Attributes.Value("state")
		out[s.AsString()] = dp.Value
	}
	return out
}

// TestReportToIsRefused: the JSON POST /fleet protocol is gone, and so is its key.
func TestReportToIsRefused(t *testing.T) {
	h := startExtension(t, nil)
	resp, err := http.Post(h.base+"/fleet", "application/json", strings.NewReader(`{"id":"a","ready":true}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	cfg := createDefaultConfig().(*Config)
	cfg.Fleet.ReportTo = "http://gateway:13133"
	require.ErrorContains(t, confmap.Validate(cfg), "report over OpAMP with `opamp.endpoint`")
}

func TestShutdownBeforeStartAndTwice(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	ext, err := newFleetHealth(cfg, extensiontest.NewNopSettings(metadata.Type), time.Now)
	require.NoError(t, err)
	// Status events may arrive before Start and after Shutdown.
	ext.Changed(componentstatus.NewInstanceID(component.MustNewID("otlp"), component.KindReceiver), componentstatus.NewEvent(componentstatus.StatusStarting))
	require.NoError(t, ext.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	ext.Changed(componentstatus.NewInstanceID(component.MustNewID("otlp"), component.KindReceiver), componentstatus.NewEvent(componentstatus.StatusStopped))
}

func TestBindFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.NetAddr.Endpoint = l.Addr().String()
	ext, err := newFleetHealth(cfg, extensiontest.NewNopSettings(metadata.Type), time.Now)
	require.NoError(t, err)
	require.ErrorContains(t, ext.Start(context.Background(), componenttest.NewNopHost()), "failed to bind to address "+l.Addr().String())
	require.NoError(t, ext.Shutdown(context.Background()))
}

// TestOpAMPServerDownIsHarmless: an agent whose server does not answer keeps checking and
// answering, says so in /status, and shuts down promptly.
func TestOpAMPServerDownIsHarmless(t *testing.T) {
	for _, scheme := range []string{"ws", "http"} {
		t.Run(scheme, func(t *testing.T) {
			h := startExtension(t, func(c *Config) { c.OpAMP.Endpoint = scheme + "://" + freeAddr(t) + "/v1/opamp" })
			require.NoError(t, h.ext.Ready())
			h.waitChecks(t, 3)
			code, _ := get(t, h.base+"/readyz")
			require.Equal(t, http.StatusOK, code, "a server that cannot be reached says nothing about this collector's readiness")
			_, body := get(t, h.base+"/status")
			require.Contains(t, body, `"connected": false`)
			start := time.Now()
			require.NoError(t, h.ext.Shutdown(context.Background()))
			require.Less(t, time.Since(start), agentStopTimeout+time.Second)
		})
	}
}

// TestEffectiveConfigIsRedacted: what the agent side would send as the effective configuration
// carries no secret.
func TestEffectiveConfigIsRedacted(t *testing.T) {
	h := startExtensionWith(t, nil, true)
	effective := confmap.NewFromStringMap(map[string]any{
		"extensions": map[string]any{"bearertokenauth/opamp": map[string]any{"token": "s3cret-token"}},
		"exporters": map[string]any{"otlp_http": map[string]any{
			"endpoint": "https://user:pa55@backend:4318",
			"headers":  map[string]any{"X-Api-Key": "k3y"},
		}},
	})
	require.NoError(t, h.ext.NotifyConfigSnapshot(context.Background(), extensioncapabilities.NewConfigSnapshot(effective, effective)))
	h.ext.mu.Lock()
	body := string(h.ext.effectiveConfig)
	h.ext.mu.Unlock()
	require.Contains(t, body, "backend:4318")
	for _, secret := range []string{"s3cret-token", "pa55", "k3y"} {
		require.NotContains(t, body, secret)
	}
}

func TestMemberIDDefaultsToTheCollectorName(t *testing.T) {
	t.Setenv("HOSTNAME", "pod-7")
	require.Equal(t, "pod-7", memberID(""), "internal/hostname: $HOSTNAME first")
	require.Equal(t, "agent-1", memberID("agent-1"))
}

// startWithInfoLogs starts an extension of cfg on a fake source, its Info logs observed; the
// test's cleanup shuts it down (safe after the test's own Shutdown).
func startWithInfoLogs(t *testing.T, cfg *Config) (*fleetHealth, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	set := extensiontest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	ext, err := newFleetHealth(cfg, set, time.Now)
	require.NoError(t, err)
	ext.source = &fakeSource{clock: &fakeClock{t: time.Now()}}
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = ext.Shutdown(context.Background()) })
	return ext, logs
}

// TestReadyGivesBackTheStartupPagesOnce: after the first Ready the binary's start-up pages go
// back to the kernel (logged with what was resident before and after); later Readys and a config
// with release_startup_pages false leave them.
func TestReadyGivesBackTheStartupPagesOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	for _, release := range []bool{true, false} {
		t.Run(fmt.Sprint("release_startup_pages=", release), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.NetAddr.Endpoint = freeAddr(t)
			cfg.ReleaseStartupPages = release
			ext, logs := startWithInfoLogs(t, cfg)

			require.NoError(t, ext.Ready())
			const gaveBack = "Gave back the binary's pages that only the start touched."
			if release {
				// The loop gives them back, after Ready returned.
				require.Eventually(t, func() bool { return logs.FilterMessage(gaveBack).Len() == 1 }, 5*time.Second, 5*time.Millisecond)
			}
			require.NoError(t, ext.Ready())
			require.NoError(t, ext.Shutdown(context.Background())) // the loop has stopped
			gave := logs.FilterMessage(gaveBack).All()
			if !release {
				require.Empty(t, gave)
				return
			}
			require.Len(t, gave, 1, "once, after the first Ready")
			fields := gave[0].ContextMap()
			before, after := fields["resident_bytes_before"].(int64), fields["resident_bytes_after"].(int64)
			require.Positive(t, before)
			require.Less(t, after, before/2, "most of the test binary's resident pages given back")
		})
	}
}

// TestGCHeadroomFromStartToShutdown: with gc_headroom_mib (the default) the extension keeps the
// heap's headroom from Start, says so once at Info, and sets GOGC back at Shutdown; with 0, or
// with GOGC set by the operator, it leaves the GC alone and the log says which.
func TestGCHeadroomFromStartToShutdown(t *testing.T) {
	const keeping = "Keeping the garbage collector's headroom at a second's allocation while busy."
	const left = "The garbage collector's headroom is left to GOGC."
	for _, tc := range []struct {
		name     string
		headroom uint32
		gogcEnv  string
		want     string
	}{
		{"default", defaultGCHeadroomMiB, "", keeping},
		{"off", 0, "", ""},
		{"operator's GOGC", defaultGCHeadroomMiB, "150", left},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogcEnv)
			cfg := createDefaultConfig().(*Config)
			cfg.NetAddr.Endpoint = freeAddr(t)
			cfg.GCHeadroomMiB = tc.headroom
			ext, logs := startWithInfoLogs(t, cfg)

			require.Equal(t, tc.want == keeping, ext.gc != nil)
			for _, msg := range []string{keeping, left} {
				n := 0
				if msg == tc.want {
					n = 1
				}
				require.Equal(t, n, logs.FilterMessage(msg).Len(), msg)
			}
			if tc.want == keeping {
				fields := logs.FilterMessage(keeping).All()[0].ContextMap()
				require.Equal(t, uint32(defaultGCHeadroomMiB), fields["gc_headroom_mib"])
				require.Equal(t, int64(100), fields["gogc_at_rest"])
			}
			require.NoError(t, ext.Shutdown(context.Background()))
			// What the governor sets under load is internal/gcheadroom's to test; here, that
			// Shutdown stopped it and left GOGC as it found it.
			require.Equal(t, 100, debug.SetGCPercent(100), "GOGC at Shutdown")
			t.Setenv("GOGC", "")
			g, err := gcheadroom.Start(1<<20, nil)
			require.NoError(t, err, "no governor left running")
			g.Stop()
		})
	}
}
