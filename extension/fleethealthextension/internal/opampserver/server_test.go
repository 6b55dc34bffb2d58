package opampserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	bearertokenauthextension "github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampagent"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Idle keep-alive connections of the HTTP clients end with the test binary.
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// host hands the server the extensions it may authenticate with.
type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

type fixture struct {
	srv      *Server
	registry *fleet.Registry
	url      string // without scheme: host:port/v1/opamp

	mu      sync.Mutex
	dropped map[string]int
}

func (f *fixture) droppedFor(reason string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped[reason]
}

// startServer serves OpAMP on a free port; tokens, when given, turn bearer-token auth on.
func startServer(t *testing.T, maxMembers, maxConns int, tokens ...string) *fixture {
	t.Helper()
	cfg := confighttp.NewDefaultServerConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	h := host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{}}
	if len(tokens) > 0 {
		id := component.MustNewID("bearertokenauth")
		factory := bearertokenauthextension.NewFactory()
		acfg := factory.CreateDefaultConfig().(*bearertokenauthextension.Config)
		for _, tok := range tokens {
			acfg.Tokens = append(acfg.Tokens, configopaque.String(tok))
		}
		ext, err := factory.Create(context.Background(), extensiontest.NewNopSettings(factory.Type()), acfg)
		require.NoError(t, err)
		require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
		t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
		h.exts[id] = ext
		cfg.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: id}})
	}
	f := &fixture{registry: fleet.NewRegistry(time.Minute, time.Hour, maxMembers, time.Now), dropped: map[string]int{}}
	f.srv = New(cfg, componenttest.NewNopTelemetrySettings(), Settings{
		Registry: f.registry, MaxConnections: maxConns, MaxMessageBytes: 64 << 10,
		Dropped: func(_ context.Context, reason string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.dropped[reason]++
		},
	})
	require.NoError(t, f.srv.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, f.srv.Shutdown(context.Background())) })
	f.url = f.srv.Addr().String() + Path
	return f
}

// stockAgent is opamp-go's reference client as a stock collector's opampextension uses it:
// description, health, no custom capability of ours.
type stockAgent struct {
	client client.OpAMPClient
	uid    types.InstanceUid
}

func startStockAgent(t *testing.T, scheme, url, token string, uid types.InstanceUid, hostName string, healthy bool) *stockAgent {
	t.Helper()
	var c client.OpAMPClient
	if scheme == "ws" {
		c = client.NewWebSocket(nil)
	} else {
		c = client.NewHTTP(nil)
	}
	require.NoError(t, c.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes:    []*protobufs.KeyValue{kv("service.name", "otelcol-contrib"), kv("service.instance.id", uuid.UUID(uid).String()), kv("service.version", "0.140.0")},
		NonIdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", hostName)},
	}))
	h := &protobufs.ComponentHealth{Healthy: healthy, Status: "StatusOK", ComponentHealthMap: map[string]*protobufs.ComponentHealth{
		"pipeline:metrics": {Healthy: healthy, Status: "StatusOK", ComponentHealthMap: map[string]*protobufs.ComponentHealth{
			"exporter:otlp": {Healthy: healthy, Status: map[bool]string{true: "StatusOK", false: "StatusPermanentError"}[healthy], LastError: map[bool]string{true: "", false: "403 forbidden"}[healthy]},
		}},
	}}
	if !healthy {
		h.Status = "StatusPermanentError"
	}
	require.NoError(t, c.SetHealth(h))
	require.NoError(t, c.SetCapabilities(ptr(protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus|protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth)))
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	interval := 50 * time.Millisecond
	require.NoError(t, c.Start(context.Background(), types.StartSettings{OpAMPServerURL: scheme + "://" + url, Header: header, InstanceUid: uid, HeartbeatInterval: &interval}))
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
	return &stockAgent{client: c, uid: uid}
}

func kv(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}

func ptr[T any](v T) *T { return &v }

func newUID() types.InstanceUid { return types.InstanceUid(uuid.New()) }

func member(f *fixture, id string) (fleet.Member, bool) {
	for _, m := range f.registry.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return fleet.Member{}, false
}

// TestStockClientInterop: opamp-go's own client, as a stock collector uses it, shows in the
// fleet with its verdict and the unhealthy component as the reason, over WebSocket and HTTP.
func TestStockClientInterop(t *testing.T) {
	for _, scheme := range []string{"ws", "http"} {
		t.Run(scheme, func(t *testing.T) {
			f := startServer(t, 10, 10)
			startStockAgent(t, scheme, f.url, "", newUID(), "good-host", true)
			bad := startStockAgent(t, scheme, f.url, "", newUID(), "bad-host", false)
			require.Eventually(t, func() bool {
				_, ok1 := member(f, "good-host")
				_, ok2 := member(f, "bad-host")
				return ok1 && ok2
			}, 10*time.Second, 10*time.Millisecond)
			good, _ := member(f, "good-host")
			require.Equal(t, fleet.StateReady, good.State)
			require.Equal(t, "otelcol-contrib", good.Role, "no role attribute: service.name")
			require.Equal(t, "otelcol-contrib 0.140.0", good.Agent)
			m, _ := member(f, "bad-host")
			require.Equal(t, fleet.StateNotReady, m.State)
			require.Equal(t, "StatusPermanentError", m.Verdict)
			require.Equal(t, []string{"pipeline:metrics exporter:otlp: StatusPermanentError 403 forbidden"}, m.Reasons)
			require.Equal(t, uuid.UUID(bad.uid).String(), uuidOf(t, m.InstanceUID))
		})
	}
}

func uuidOf(t *testing.T, hexUID string) string {
	t.Helper()
	id, err := uuid.Parse(hexUID)
	require.NoError(t, err)
	return id.String()
}

// TestOurCustomMessage: the backpressure figures sent under our capability reach the view.
func TestOurCustomMessage(t *testing.T) {
	f := startServer(t, 10, 10)
	uid := newUID()
	c := client.NewWebSocket(nil)
	require.NoError(t, c.SetAgentDescription(&protobufs.AgentDescription{NonIdentifyingAttributes: []*protobufs.KeyValue{kv(opampagent.AttrFleetID, "agent-7"), kv(opampagent.AttrFleetRole, "agent")}}))
	require.NoError(t, c.SetHealth(&protobufs.ComponentHealth{Healthy: true, Status: "ready"}))
	require.NoError(t, c.SetCapabilities(ptr(protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus|protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth)))
	require.NoError(t, c.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{opampagent.Capability}}))
	require.NoError(t, c.Start(context.Background(), types.StartSettings{OpAMPServerURL: "ws://" + f.url, InstanceUid: uid}))
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
	require.Eventually(t, func() bool { _, ok := member(f, "agent-7"); return ok }, 10*time.Second, 10*time.Millisecond)

	lag := 20.0
	data, err := opampagent.Backpressure{Ready: false, Verdict: "not_ready", Utilization: map[string]float64{"queue": 0.9, "send_lag": 1.3, "bogus": 7},
		SendLagSeconds: &lag, IntervalSeconds: 5}.Marshal()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := c.SendCustomMessage(&protobufs.CustomMessage{Capability: opampagent.Capability, Type: opampagent.MessageType, Data: data})
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { m, _ := member(f, "agent-7"); return m.State == fleet.StateNotReady }, 10*time.Second, 10*time.Millisecond)
	m, _ := member(f, "agent-7")
	require.Equal(t, "agent", m.Role)
	require.Equal(t, map[string]float64{"queue": 0.9, "send_lag": 1.3}, m.Signals, "unknown signals are not kept")
	require.InDelta(t, 20, *m.SendLagSeconds, 0)
	require.NotNil(t, m.Trend)
}

// TestBearerToken: without the token the connection is refused; with it, accepted.
func TestBearerToken(t *testing.T) {
	f := startServer(t, 10, 10, "s3cret")
	// opamp-go's HTTP client reports a 401 to no callback: plain HTTP is checked below with a
	// request of its own.
	for _, scheme := range []string{"ws"} {
		var failed atomic.Bool
		var c client.OpAMPClient = client.NewWebSocket(nil)
		if scheme == "http" {
			c = client.NewHTTP(nil)
		}
		require.NoError(t, c.SetAgentDescription(&protobufs.AgentDescription{NonIdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", "intruder-"+scheme)}}))
		require.NoError(t, c.Start(context.Background(), types.StartSettings{OpAMPServerURL: scheme + "://" + f.url, InstanceUid: newUID(),
			Callbacks: types.Callbacks{OnConnectFailed: func(context.Context, error) { failed.Store(true) }}}))
		require.Eventually(t, failed.Load, 10*time.Second, 10*time.Millisecond, scheme)
		require.NoError(t, c.Stop(context.Background()))
	}
	resp, err := http.Post("http://"+f.url, "application/x-protobuf", strings.NewReader(""))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	startStockAgent(t, "ws", f.url, "s3cret", newUID(), "member", true)
	require.Eventually(t, func() bool { _, ok := member(f, "member"); return ok }, 10*time.Second, 10*time.Millisecond)
	_, ok := member(f, "intruder-ws")
	require.False(t, ok)
}

// TestInstanceUIDIsBoundToItsCredential: a client with another token cannot overwrite a member.
func TestInstanceUIDIsBoundToItsCredential(t *testing.T) {
	f := startServer(t, 10, 10, "alice-token", "mallory-token")
	uid := newUID()
	startStockAgent(t, "ws", f.url, "alice-token", uid, "alice", true)
	require.Eventually(t, func() bool { _, ok := member(f, "alice"); return ok }, 10*time.Second, 10*time.Millisecond)

	startStockAgent(t, "http", f.url, "mallory-token", uid, "forged", false)
	require.Eventually(t, func() bool { return f.droppedFor(fleet.ReasonNotOwner) > 0 }, 10*time.Second, 10*time.Millisecond)
	_, forged := member(f, "forged")
	require.False(t, forged)
	m, _ := member(f, "alice")
	require.Equal(t, fleet.StateReady, m.State)
}

// TestMemberLimit: when full, new members are refused and live ones stay.
func TestMemberLimit(t *testing.T) {
	f := startServer(t, 2, 10)
	startStockAgent(t, "ws", f.url, "", newUID(), "m1", true)
	startStockAgent(t, "http", f.url, "", newUID(), "m2", true)
	require.Eventually(t, func() bool { return len(f.registry.Members()) == 2 }, 10*time.Second, 10*time.Millisecond)
	startStockAgent(t, "ws", f.url, "", newUID(), "m3", true)
	require.Eventually(t, func() bool { return f.droppedFor(fleet.ReasonMemberLimit) > 0 }, 10*time.Second, 10*time.Millisecond)
	_, ok1 := member(f, "m1")
	_, ok2 := member(f, "m2")
	_, ok3 := member(f, "m3")
	require.True(t, ok1 && ok2 && !ok3)
}

// TestConnectionLimit: connections beyond the limit are closed at once.
func TestConnectionLimit(t *testing.T) {
	f := startServer(t, 10, 2)
	var conns []*websocket.Conn
	for range 2 {
		c, resp, err := websocket.DefaultDialer.Dial("ws://"+f.url, nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		conns = append(conns, c)
	}
	_, _, err := websocket.DefaultDialer.Dial("ws://"+f.url, nil)
	require.Error(t, err, "the third is closed on arrival")
	require.Equal(t, 1, f.droppedFor(fleet.ReasonConnLimit))
	require.Equal(t, int64(2), f.srv.Connections())
	require.NoError(t, conns[0].Close())
	require.Eventually(t, func() bool { return f.srv.Connections() == 1 }, 5*time.Second, 10*time.Millisecond)
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+f.url, nil)
	require.NoError(t, err, "a place freed up")
	_ = resp.Body.Close()
	require.NoError(t, c.Close())
	require.NoError(t, conns[1].Close())
}

// TestWebSocketMessageLimit: a WebSocket message over the limit closes the connection before it
// is read whole (opamp-go sets no limit; onConnected does). Fails if opamp-go's connection type
// stops holding the gorilla connection where gorillaConn looks for it.
func TestWebSocketMessageLimit(t *testing.T) {
	f := startServer(t, 10, 10)
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+f.url, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	defer c.Close()
	msg, err := proto.Marshal(&protobufs.AgentToServer{InstanceUid: make([]byte, 16), AgentDescription: &protobufs.AgentDescription{
		NonIdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", strings.Repeat("x", 128<<10))}}})
	require.NoError(t, err)
	// opamp's WebSocket framing: a zero header byte, then the protobuf message. The server may
	// close while the message is still being written (it judges the frame header) or answer
	// with a close frame: either way the connection ends and nothing is recorded.
	if err := c.WriteMessage(websocket.BinaryMessage, append([]byte{0}, msg...)); err == nil {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, _, err = c.ReadMessage()
		require.Error(t, err)
		var closeErr *websocket.CloseError
		if errors.As(err, &closeErr) {
			require.Equal(t, websocket.CloseMessageTooBig, closeErr.Code)
		}
	}
	require.Empty(t, f.registry.Members())

	// The control: the same message under the limit is recorded.
	small, err := proto.Marshal(&protobufs.AgentToServer{InstanceUid: make([]byte, 16), AgentDescription: &protobufs.AgentDescription{
		NonIdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", strings.Repeat("x", 32))}}})
	require.NoError(t, err)
	c2, resp, err := websocket.DefaultDialer.Dial("ws://"+f.url, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	defer c2.Close()
	require.NoError(t, c2.WriteMessage(websocket.BinaryMessage, append([]byte{0}, small...)))
	require.Eventually(t, func() bool { return len(f.registry.Members()) == 1 }, 5*time.Second, 10*time.Millisecond)
}

// TestPlainHTTPBodyLimit: plain HTTP bodies are bounded by max_request_body_size.
func TestPlainHTTPBodyLimit(t *testing.T) {
	cfg := confighttp.NewDefaultServerConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.MaxRequestBodySize = 1024
	srv := New(cfg, componenttest.NewNopTelemetrySettings(), Settings{Registry: fleet.NewRegistry(time.Minute, time.Hour, 10, time.Now), MaxConnections: 10, MaxMessageBytes: 1024})
	require.NoError(t, srv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, srv.Shutdown(context.Background())) }()
	msg, err := proto.Marshal(&protobufs.AgentToServer{InstanceUid: make([]byte, 16), AgentDescription: &protobufs.AgentDescription{
		NonIdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", strings.Repeat("x", 4096))}}})
	require.NoError(t, err)
	resp, err := http.Post("http://"+srv.Addr().String()+Path, "application/x-protobuf", strings.NewReader(string(msg)))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestOwnerOf(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "/", http.NoBody)
	req.RemoteAddr = "10.1.2.3:5555"
	require.Equal(t, "addr:10.1.2.3", ownerOf(req, false))
	req.Header.Set("Authorization", "Bearer a")
	a := ownerOf(req, true)
	req.Header.Set("Authorization", "Bearer b")
	require.NotEqual(t, a, ownerOf(req, true))
	require.NotContains(t, a, "Bearer", "only a hash is kept")
	require.True(t, strings.HasPrefix(a, "cred:"))
}

func TestShutdownBeforeStart(t *testing.T) {
	srv := New(confighttp.NewDefaultServerConfig(), componenttest.NewNopTelemetrySettings(), Settings{})
	require.NoError(t, srv.Shutdown(context.Background()))
	require.NoError(t, srv.Shutdown(context.Background()))
	require.Nil(t, srv.Addr())
}
