package http

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

func TestMain(m *testing.M) {
	// The HTTP client's idle keep-alive connections end with the test binary, not the test.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture is a server over a verdict the test sets, with the dropped reports it counted.
type fixture struct {
	srv      *Server
	registry *fleet.Registry
	report   health.Report
	running  bool // the pipelines run; since epoch

	mu sync.Mutex // the clock is read by the serving goroutines
	t  time.Time
}

func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func newFixture(t *testing.T, endpoint string) *fixture {
	t.Helper()
	f := &fixture{t: epoch, report: health.Report{Ready: true, Verdict: health.VerdictReady}, running: true}
	cfg := confighttp.NewDefaultServerConfig()
	cfg.NetAddr.Endpoint = endpoint
	registry := fleet.NewRegistry(30*time.Second, time.Hour, 2, f.now)
	f.registry = registry
	f.srv = NewServer(cfg, componenttest.NewNopTelemetrySettings(), Settings{
		Report:  func() health.Report { return f.report },
		Running: func() (bool, time.Time) { return f.running, epoch },
		Self: func(r health.Report) fleet.Report {
			return fleet.Report{ID: "self", Role: "gateway", Ready: r.Ready, Verdict: r.Verdict}
		},
		TelemetryEndpoint: func() string { return "http://localhost:8888/metrics" },
		OpAMPStatus:       func() any { return map[string]string{"endpoint": "wss://central:4320/v1/opamp"} },
		Registry:          registry,
		StaleAfter:        30 * time.Second,
		Now:               f.now,
	})
	return f
}

func (f *fixture) do(t *testing.T, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, req)
	return w
}

func TestReadyzFollowsTheVerdict(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	w := f.do(t, http.MethodGet, "/readyz", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	f.report = health.Report{Verdict: health.VerdictNotReady, Reasons: []health.Reason{{Signal: health.SignalQueue, Message: "queue full"}}, Actions: []string{"scale out"}}
	w = f.do(t, http.MethodGet, "/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.JSONEq(t, `{"ready":false,"verdict":"not_ready","reasons":[{"signal":"queue","message":"queue full"}],"actions":["scale out"]}`, w.Body.String())

	// Liveness ignores the verdict; so does `/`, as health_check's does.
	w = f.do(t, http.MethodGet, "/livez", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), `"status": "alive"`)
	w = f.do(t, http.MethodGet, "/", "")
	require.Equal(t, http.StatusOK, w.Code)
}

// `/` answers what health_check answers (contrib healthcheckextension v0.165.1), byte for byte
// but for the times: 200 while the pipelines run, 503 before and after.
func TestRootAnswersAsHealthCheck(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	f.running = false
	w := f.do(t, http.MethodGet, "/", "")
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.JSONEq(t, `{"status":"Server not available","upSince":"0001-01-01T00:00:00Z","uptime":""}`, w.Body.String())
	w = f.do(t, http.MethodGet, "/livez", "")
	require.Equal(t, http.StatusOK, w.Code, "alive while starting")

	f.running = true
	f.advance(90 * time.Second)
	w = f.do(t, http.MethodGet, "/", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.JSONEq(t, `{"status":"Server available","upSince":"`+epoch.Format(time.RFC3339Nano)+`","uptime":"1m30s"}`, w.Body.String())
}

func TestStatusNamesThisCollector(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	var st struct {
		ID                string `json:"id"`
		Role              string `json:"role"`
		Verdict           string `json:"verdict"`
		TelemetryEndpoint string `json:"telemetry_endpoint"`
		OpAMP             struct {
			Endpoint string `json:"endpoint"`
		} `json:"opamp"`
	}
	require.NoError(t, json.Unmarshal(f.do(t, http.MethodGet, "/status", "").Body.Bytes(), &st))
	require.Equal(t, "self", st.ID)
	require.Equal(t, "gateway", st.Role)
	require.Equal(t, "ready", st.Verdict)
	require.Equal(t, "http://localhost:8888/metrics", st.TelemetryEndpoint)
	require.Equal(t, "wss://central:4320/v1/opamp", st.OpAMP.Endpoint)
}

func TestFleetShowsSelfFirstAndOnce(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	f.record(t, "uid-1", fleet.Report{ID: "agent-1", Role: "agent", Ready: false, Verdict: "not_ready"})
	f.record(t, "uid-2", fleet.Report{ID: "self", Role: "gateway", Ready: true})

	var v fleet.View
	require.NoError(t, json.Unmarshal(f.do(t, http.MethodGet, "/fleet", "").Body.Bytes(), &v))
	require.Len(t, v.Members, 2, "a collector reporting to itself is shown once")
	require.Equal(t, "self", v.Members[0].ID)
	require.True(t, v.Members[0].Self)
	require.Equal(t, "agent-1", v.Members[1].ID)
	require.Equal(t, map[string]int{"ready": 1, "not_ready": 1, "missing": 0}, v.Counts)
	require.InDelta(t, 30, v.StaleAfterSeconds, 0)

	w := f.do(t, http.MethodGet, "/fleet", "", "Accept", "text/html")
	require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	require.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'self'")
	require.Contains(t, w.Body.String(), `<tr data-member="agent-1" data-state="not_ready">`)
	require.Equal(t, w.Body.String(), f.do(t, http.MethodGet, "/fleet.html", "").Body.String())
}

func (f *fixture) record(t *testing.T, key string, rep fleet.Report) {
	t.Helper()
	_, err := f.registry.Apply(key, "owner", func(r *fleet.Report) { *r = rep })
	require.NoError(t, err)
}

// TestFleetIsOneSnapshotPerSecond: every reader within snapshotTTL is served the same
// rendering, so concurrent readers cost one rendering, not one each.
func TestFleetIsOneSnapshotPerSecond(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	f.srv.snapshots.now = f.now
	f.record(t, "uid-1", fleet.Report{ID: "agent-1", Ready: true})
	first := f.do(t, http.MethodGet, "/fleet", "").Body.String()
	f.record(t, "uid-2", fleet.Report{ID: "agent-2", Ready: true})
	require.Equal(t, first, f.do(t, http.MethodGet, "/fleet", "").Body.String(), "within the TTL: the same bytes")
	f.advance(snapshotTTL)
	require.Contains(t, f.do(t, http.MethodGet, "/fleet", "").Body.String(), "agent-2", "after it: rendered again")
}

// TestNoPostFleet: the JSON report protocol is gone; reports come over OpAMP.
func TestNoPostFleet(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	require.Equal(t, http.StatusMethodNotAllowed, f.do(t, http.MethodPost, "/fleet", `{"id":"a"}`).Code)
	_, known := f.registry.Apply("probe", "x", nil)
	require.NoError(t, known)
	require.Len(t, f.registry.Members(), 1, "only the probe: the POST recorded nothing")
}

func TestWantsHTML(t *testing.T) {
	require.True(t, wantsHTML("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"))
	require.False(t, wantsHTML("application/json"))
	require.False(t, wantsHTML("application/json, text/html"))
	require.False(t, wantsHTML(""))
}

func TestServeAndUptime(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	f := newFixture(t, addr)
	require.NoError(t, f.srv.Start(context.Background(), componenttest.NewNopHost()))
	f.advance(90 * time.Second)
	resp, err := http.Get("http://" + addr + "/livez")
	require.NoError(t, err)
	var doc livenessDoc
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	require.NoError(t, resp.Body.Close())
	require.Equal(t, livenessDoc{Status: "alive", UptimeSeconds: 90}, doc)

	require.NoError(t, f.srv.Shutdown(context.Background()))
	require.NoError(t, f.srv.Shutdown(context.Background()), "shutdown twice")
	_, err = http.Post("http://"+addr+"/fleet", "application/json", bytes.NewReader([]byte(`{"id":"x"}`)))
	require.Error(t, err, "nothing listens after Shutdown")
}

func TestShutdownBeforeStart(t *testing.T) {
	f := newFixture(t, "127.0.0.1:0")
	require.NoError(t, f.srv.Shutdown(context.Background()))
	require.NoError(t, f.srv.Shutdown(context.Background()))
}

func TestBindFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	f := newFixture(t, l.Addr().String())
	require.ErrorContains(t, f.srv.Start(context.Background(), componenttest.NewNopHost()), "fleet_health: failed to bind to address "+l.Addr().String())
	require.NoError(t, f.srv.Shutdown(context.Background()))
}
