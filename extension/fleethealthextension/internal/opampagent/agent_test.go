package opampagent

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// refServer is opamp-go's reference server, recording what agents send.
type refServer struct {
	srv     server.OpAMPServer
	mu      sync.Mutex
	headers []http.Header
	last    struct {
		desc     *protobufs.AgentDescription
		health   *protobufs.ComponentHealth
		config   *protobufs.EffectiveConfig
		custom   *protobufs.CustomMessage
		customAt time.Time
		healthAt time.Time
	}
}

func startRefServer(t *testing.T) (*refServer, string) {
	t.Helper()
	return startRefServerAt(t, "127.0.0.1:0")
}

func startRefServerAt(t *testing.T, endpoint string) (*refServer, string) {
	t.Helper()
	rs := &refServer{srv: server.New(nil)}
	require.NoError(t, rs.srv.Start(server.StartSettings{
		ListenEndpoint: endpoint,
		Settings: server.Settings{
			CustomCapabilities: []string{Capability},
			Callbacks: types.Callbacks{OnConnecting: func(r *http.Request) types.ConnectionResponse {
				rs.mu.Lock()
				rs.headers = append(rs.headers, r.Header.Clone())
				rs.mu.Unlock()
				return types.ConnectionResponse{Accept: true, ConnectionCallbacks: types.ConnectionCallbacks{
					OnMessage: func(_ context.Context, _ types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
						rs.mu.Lock()
						defer rs.mu.Unlock()
						if msg.AgentDescription != nil {
							rs.last.desc = msg.AgentDescription
						}
						if msg.Health != nil {
							rs.last.health, rs.last.healthAt = msg.Health, time.Now()
						}
						if msg.EffectiveConfig != nil {
							rs.last.config = msg.EffectiveConfig
						}
						if msg.CustomMessage != nil {
							rs.last.custom, rs.last.customAt = msg.CustomMessage, time.Now()
						}
						return &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid}
					},
				}}
			}},
		},
	}))
	t.Cleanup(func() { require.NoError(t, rs.srv.Stop(context.Background())) })
	return rs, rs.srv.Addr().String() + "/v1/opamp"
}

func (rs *refServer) health() *protobufs.ComponentHealth {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.last.health
}

func (rs *refServer) custom() *protobufs.CustomMessage {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.last.custom
}

func attr(kvs []*protobufs.KeyValue, k string) string {
	for _, kv := range kvs {
		if kv.Key == k {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

const instanceID = "0f8fad5b-d9cb-469f-a165-70867728950e"

func notReady() health.Report {
	lag := 20.0
	return health.Report{
		Ready: false, Verdict: health.VerdictNotReady,
		Reasons:     []health.Reason{{Signal: health.SignalSendLag, Component: "exporter/ordered_rw", Value: 20, Threshold: 15, Message: "exporter ordered_rw: send lag 20s (threshold 15s)"}},
		Utilization: map[string]float64{"queue": 0.4, "send_lag": 1.33},
		Exporters:   []health.ExporterStatus{{ID: "ordered_rw", SendLagSeconds: &lag}},
		Components:  []health.ComponentStatus{{ID: "ordered_rw", Kind: "exporter", Status: "OK"}, {ID: "otlp", Kind: "receiver", Status: "OK"}},
		Extra:       map[string]float64{"otelcol_processor_series_guard_active_series": 1234, "otelcol_exporter_ordered_rw_x": 1},
	}
}

// TestAgentAgainstReferenceServer: our agent, against opamp-go's server, over WebSocket and
// plain HTTP: description, redacted configuration, health with the verdict and reasons, and the
// figures under our capability; a readiness change arrives without waiting for the interval.
func TestAgentAgainstReferenceServer(t *testing.T) {
	for _, scheme := range []string{"ws", "http"} {
		t.Run(scheme, func(t *testing.T) {
			rs, addr := startRefServer(t)
			core, logs := observer.New(zap.DebugLevel)
			interval := time.Hour // nothing is sent by the timer (heartbeat, HTTP poll) during the test
			a, err := New(Settings{
				Endpoint: scheme + "://" + addr, Interval: interval, Logger: zap.New(core),
				Header:      http.Header{"X-Tenant": []string{"team-a"}},
				Description: Description{ServiceName: "otelcol-fleet", ServiceInstanceID: instanceID, ServiceVersion: "0.1.0", HostName: "node-1", FleetID: "agent-a", Role: "agent"},
			})
			require.NoError(t, err)
			a.SetEffectiveConfig([]byte("exporters:\n  x:\n    password: [REDACTED]\n"))
			require.NoError(t, a.Start(context.Background()))
			defer func() { require.NoError(t, a.Shutdown(context.Background())) }()

			require.Eventually(t, func() bool { return rs.health() != nil && a.Connected() }, 10*time.Second, 10*time.Millisecond)
			rs.mu.Lock()
			desc, cfg, hdr := rs.last.desc, rs.last.config, rs.headers[0]
			rs.mu.Unlock()
			require.Equal(t, instanceID, attr(desc.IdentifyingAttributes, "service.instance.id"))
			require.Equal(t, "otelcol-fleet", attr(desc.IdentifyingAttributes, "service.name"))
			require.Equal(t, "0.1.0", attr(desc.IdentifyingAttributes, "service.version"))
			require.Equal(t, "node-1", attr(desc.NonIdentifyingAttributes, "host.name"))
			require.Equal(t, "agent-a", attr(desc.NonIdentifyingAttributes, AttrFleetID))
			require.Equal(t, "agent", attr(desc.NonIdentifyingAttributes, AttrFleetRole))
			require.Contains(t, string(cfg.GetConfigMap().GetConfigMap()[""].GetBody()), "[REDACTED]")
			require.Equal(t, "team-a", hdr.Get("X-Tenant"))
			require.False(t, rs.health().Healthy, "starting")

			sent := time.Now()
			a.Update(notReady(), Topology{"metrics": {"receiver:otlp", "exporter:ordered_rw"}})
			require.Eventually(t, func() bool { h := rs.health(); return h != nil && h.Status == health.VerdictNotReady }, 5*time.Second, 5*time.Millisecond)
			require.Less(t, time.Since(sent), 2*time.Second, "pushed at once, not at the next interval (1h)")
			h := rs.health()
			require.False(t, h.Healthy)
			require.Equal(t, "exporter ordered_rw: send lag 20s (threshold 15s)", h.LastError)
			pipe := h.ComponentHealthMap["pipeline:metrics"]
			require.NotNil(t, pipe)
			require.False(t, pipe.Healthy)
			require.False(t, pipe.ComponentHealthMap["exporter:ordered_rw"].Healthy)
			require.True(t, pipe.ComponentHealthMap["receiver:otlp"].Healthy)

			require.Eventually(t, func() bool { return rs.custom() != nil }, 5*time.Second, 5*time.Millisecond)
			cm := rs.custom()
			require.Equal(t, Capability, cm.Capability)
			require.Equal(t, MessageType, cm.Type)
			var bp Backpressure
			require.NoError(t, json.Unmarshal(cm.Data, &bp))
			require.Equal(t, health.VerdictNotReady, bp.Verdict)
			require.InDelta(t, 20, *bp.SendLagSeconds, 0)
			require.InDelta(t, 0.4, bp.Utilization["queue"], 0)
			require.Equal(t, map[string]float64{"otelcol_processor_series_guard_active_series": 1234}, bp.SeriesGuard)
			require.Len(t, bp.Reasons, 1)

			ready := health.Report{Ready: true, Verdict: health.VerdictReady}
			a.Update(ready, nil)
			require.Eventually(t, func() bool {
				h := rs.health()
				return h.Healthy && h.Status == health.VerdictReady && h.LastError == ""
			}, 5*time.Second, 5*time.Millisecond)
			require.Equal(t, 1, logs.FilterMessage("Connected to the OpAMP server.").Len())
		})
	}
}

// TestAgentAuthHeaders: an auth extension's headers reach the server on every connection.
func TestAgentAuthHeaders(t *testing.T) {
	rs, addr := startRefServer(t)
	auth := extensionauth.ClientRoundTripperFunc(func(base http.RoundTripper) (http.RoundTripper, error) {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", "Bearer from-extension")
			return base.RoundTrip(req)
		}), nil
	})
	hf, err := AuthHeaderFunc("ws://"+addr, auth, func(err error) { t.Error(err) })
	require.NoError(t, err)
	a, err := New(Settings{Endpoint: "ws://" + addr, Interval: time.Hour, HeaderFunc: hf, Logger: zap.NewNop()})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	defer func() { require.NoError(t, a.Shutdown(context.Background())) }()
	require.Eventually(t, func() bool { rs.mu.Lock(); defer rs.mu.Unlock(); return len(rs.headers) > 0 }, 10*time.Second, 10*time.Millisecond)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	require.Equal(t, "Bearer from-extension", rs.headers[0].Get("Authorization"))
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAgentServerDown: no server: Start succeeds, Update never blocks, one warning is logged
// with the endpoint's credentials removed, and Shutdown returns.
func TestAgentServerDown(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	a, err := New(Settings{Endpoint: "ws://user:hunter2@127.0.0.1:1/v1/opamp?token=abc", Interval: time.Hour, Logger: zap.New(core)})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	start := time.Now()
	for range 100 {
		a.Update(notReady(), nil)
	}
	require.Less(t, time.Since(start), time.Second, "updates never wait for the server")
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("Cannot reach the OpAMP server").Len() == 1 }, 10*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, a.Shutdown(ctx))
	for _, e := range logs.All() {
		line := e.Message
		for _, f := range e.Context {
			line += " " + f.String
		}
		require.NotContains(t, line, "hunter2")
		require.NotContains(t, line, "token=abc")
	}
}

// TestAgentReconnects: a server that comes up after the agent started is reached by the
// agent's retries (with backoff), and gets its description and health.
func TestAgentReconnects(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	core, logs := observer.New(zap.InfoLevel)
	a, err := New(Settings{Endpoint: "ws://" + addr + "/v1/opamp", Interval: time.Hour, Logger: zap.New(core),
		Description: Description{FleetID: "late"}})
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	defer func() { require.NoError(t, a.Shutdown(context.Background())) }()
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("Cannot reach").Len() == 1 }, 10*time.Second, 10*time.Millisecond)

	rs, _ := startRefServerAt(t, addr)
	require.Eventually(t, func() bool { return rs.health() != nil }, 30*time.Second, 20*time.Millisecond, "reconnected")
	require.True(t, a.Connected())
	require.Equal(t, 1, logs.FilterMessage("Connected to the OpAMP server.").Len())
}

func TestInstanceUID(t *testing.T) {
	uid := InstanceUID(instanceID)
	require.Equal(t, instanceID, uuidString(uid))
	require.NotEqual(t, InstanceUID("not-a-uuid"), InstanceUID("not-a-uuid"), "else a new one")
}

func uuidString(u [16]byte) string {
	const hexd = "0123456789abcdef"
	var b strings.Builder
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b.WriteByte('-')
		}
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

func TestRedact(t *testing.T) {
	in := map[string]any{
		"exporters": map[string]any{
			"otlp_http": map[string]any{
				"endpoint": "https://user:pw@backend:4318",
				"headers":  map[string]any{"X-Scope-OrgID": "tenant", "Authorization": "Bearer t"},
				"tls":      map[string]any{"key_file": "/etc/key.pem", "insecure": false},
			},
			"prometheus_remote_write": map[string]any{"endpoint": "http://amp", "auth": map[string]any{"authenticator": "sigv4auth"}},
		},
		"extensions": map[string]any{
			"bearertokenauth": map[string]any{"token": "s3cret", "tokens": []any{"a", "b"}},
			"basicauth":       map[string]any{"client_auth": map[string]any{"username": "u", "password": "p"}},
		},
		"receivers": map[string]any{"x": map[string]any{"targets": []any{"http://a:b@h:1/x"}}},
	}
	out := Redact(in)
	b, err := json.Marshal(out)
	require.NoError(t, err)
	s := string(b)
	for _, secret := range []string{"pw@", "tenant", "Bearer t", "s3cret", `"a","b"`, `"p"`, "a:b@"} {
		require.NotContains(t, s, secret)
	}
	require.Contains(t, s, `"authenticator":"sigv4auth"`, "the name of an auth extension is not a secret")
	require.Contains(t, s, `"key_file":"/etc/key.pem"`, "a path is not a secret")
	require.Contains(t, s, `"username":"u"`)
	require.Contains(t, s, "backend:4318")
}
