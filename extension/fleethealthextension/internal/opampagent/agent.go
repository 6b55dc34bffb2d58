// Package opampagent is fleet_health's agent side of OpAMP: an opamp-go client (WebSocket or plain
// HTTP, chosen by the endpoint's scheme) that reports this collector's description, its redacted
// effective configuration, its readiness as ComponentHealth and its backpressure figures as a
// custom message (backpressure.go). It never blocks the caller: every update only replaces what
// the client sends next, and a server that is down only makes the client retry with backoff.
package opampagent // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampagent"

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"go.uber.org/zap"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

// Settings is everything the agent needs; Endpoint is required.
type Settings struct {
	// Endpoint is the server's URL: ws:// or wss:// for WebSocket, http:// or https:// for
	// plain HTTP (polled every Interval).
	Endpoint string
	// Header is sent with every request (the configured headers).
	Header http.Header
	// HeaderFunc, when set, adds headers to every request (an auth extension's).
	HeaderFunc func(http.Header) http.Header
	// TLS is used for wss:// and https:// only.
	TLS *tls.Config
	// Interval is how often the figures are sent, and the heartbeat / HTTP polling interval.
	Interval time.Duration
	// Description identifies the collector (see Description).
	Description Description
	// Logger receives state changes; the OpAMP client's own messages go at Debug.
	Logger *zap.Logger
}

// Description is what the agent description carries.
type Description struct {
	ServiceName       string // service.name
	ServiceInstanceID string // service.instance.id; the OpAMP instance uid is derived from it
	ServiceVersion    string // service.version: the distribution's version
	HostName          string // host.name
	FleetID           string // otelcol_fleet.id: the name shown in the fleet view
	Role              string // otelcol_fleet.role
}

// Attribute keys of the agent description that are ours (non-identifying).
const (
	AttrFleetID   = "otelcol_fleet.id"
	AttrFleetRole = "otelcol_fleet.role"
)

// Agent reports to one OpAMP server. Start, then Update after every check; Shutdown once.
type Agent struct {
	set    Settings
	client client.OpAMPClient
	uid    types.InstanceUid
	start  time.Time

	mu            sync.Mutex
	effective     []byte // the redacted effective configuration, YAML
	lastHealthKey string
	connected     bool
	failing       bool
	started       bool
}

// New validates the settings and builds the client; nothing is sent before Start.
func New(set Settings) (*Agent, error) {
	u, err := url.Parse(set.Endpoint)
	if err != nil {
		return nil, err
	}
	a := &Agent{set: set, uid: InstanceUID(set.Description.ServiceInstanceID), start: time.Now()}
	logger := zapLogger{set.Logger}
	switch u.Scheme {
	case "ws", "wss":
		a.client = client.NewWebSocket(logger)
	case "http", "https":
		a.client = client.NewHTTP(logger)
	default:
		return nil, fmt.Errorf("scheme must be ws, wss, http or https, found %q", u.Scheme)
	}
	return a, nil
}

// InstanceUID is the OpAMP instance uid: service.instance.id when it is a UUID (the collector's
// own is), so the uid is the same across reconnects and in both views; else a new UUIDv7.
func InstanceUID(serviceInstanceID string) types.InstanceUid {
	if id, err := uuid.Parse(serviceInstanceID); err == nil {
		return types.InstanceUid(id)
	}
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	return types.InstanceUid(id)
}

// UID is the instance uid the agent reports under.
func (a *Agent) UID() types.InstanceUid { return a.uid }

// SetEffectiveConfig replaces the effective configuration reported (already redacted, YAML).
func (a *Agent) SetEffectiveConfig(yaml []byte) {
	a.mu.Lock()
	a.effective = yaml
	started := a.started
	a.mu.Unlock()
	if started {
		_ = a.client.UpdateEffectiveConfig(context.Background())
	}
}

// Start begins connecting in the background; it fails only on invalid settings.
func (a *Agent) Start(ctx context.Context) error {
	if err := a.client.SetAgentDescription(a.description()); err != nil {
		return err
	}
	// Health first: setting the ReportsHealth capability checks that health is set.
	if err := a.client.SetHealth(&protobufs.ComponentHealth{Healthy: false, Status: health.VerdictStarting, StartTimeUnixNano: unixNano(a.start), StatusTimeUnixNano: unixNano(time.Now())}); err != nil {
		return err
	}
	if err := a.client.SetCapabilities(ptr(protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat)); err != nil {
		return err
	}
	if err := a.client.SetCustomCapabilities(&protobufs.CustomCapabilities{Capabilities: []string{Capability}}); err != nil {
		return err
	}
	u, _ := url.Parse(a.set.Endpoint)
	var tlsCfg *tls.Config
	if u.Scheme == "wss" || u.Scheme == "https" {
		// opamp-go switches ws:// to wss:// whenever a TLS config is given: give one only for TLS.
		tlsCfg = a.set.TLS
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	interval := a.set.Interval
	err := a.client.Start(ctx, types.StartSettings{
		OpAMPServerURL:    a.set.Endpoint,
		Header:            a.set.Header,
		HeaderFunc:        a.set.HeaderFunc,
		TLSConfig:         tlsCfg,
		InstanceUid:       a.uid,
		HeartbeatInterval: &interval,
		Callbacks: types.Callbacks{
			OnConnect:          a.onConnect,
			OnConnectFailed:    a.onConnectFailed,
			OnError:            a.onError,
			GetEffectiveConfig: a.getEffectiveConfig,
		},
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.started = true
	a.mu.Unlock()
	return nil
}

// Shutdown tells the server the agent leaves (WebSocket) and stops; bounded by ctx.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	started := a.started
	a.started = false
	a.mu.Unlock()
	if !started {
		return nil
	}
	return a.client.Stop(ctx)
}

// Update reports a new verdict: ComponentHealth at once when it changed (readiness, verdict,
// reasons or a component's status), and the backpressure figures every call. Never blocks.
func (a *Agent) Update(r health.Report, topology Topology) {
	if !a.UpdateHealth(r, topology) {
		return
	}
	data, err := NewBackpressure(r, a.set.Interval).Marshal()
	if err != nil {
		return
	}
	// One custom message may be pending at a time; while one is, this check's figures are
	// dropped and the next check sends newer ones.
	_, _ = a.client.SendCustomMessage(&protobufs.CustomMessage{Capability: Capability, Type: MessageType, Data: data})
}

// UpdateHealth sends ComponentHealth at once if it changed (readiness, verdict, reasons or a
// component's status); false before Start or after Shutdown.
func (a *Agent) UpdateHealth(r health.Report, topology Topology) bool {
	a.mu.Lock()
	started := a.started
	a.mu.Unlock()
	if !started {
		return false
	}
	h := HealthFrom(r, topology, a.start)
	if key := healthKey(h); key != a.swapHealthKey(key) {
		_ = a.client.SetHealth(h)
	}
	return true
}

// Connected says whether the last connection attempt or request succeeded.
func (a *Agent) Connected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.connected
}

func (a *Agent) swapHealthKey(key string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.lastHealthKey
	a.lastHealthKey = key
	return old
}

// healthKey is what makes two health messages different, without the timestamps.
func healthKey(h *protobufs.ComponentHealth) string {
	var b strings.Builder
	var walk func(prefix string, h *protobufs.ComponentHealth)
	walk = func(prefix string, h *protobufs.ComponentHealth) {
		fmt.Fprintf(&b, "%s|%t|%s|%s\n", prefix, h.Healthy, h.Status, h.LastError)
		keys := make([]string, 0, len(h.ComponentHealthMap))
		for k := range h.ComponentHealthMap {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(prefix+"/"+k, h.ComponentHealthMap[k])
		}
	}
	walk("", h)
	return b.String()
}

func (a *Agent) description() *protobufs.AgentDescription {
	d := a.set.Description
	return &protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{
			stringKV("service.name", d.ServiceName),
			stringKV("service.instance.id", d.ServiceInstanceID),
			stringKV("service.version", d.ServiceVersion),
		},
		NonIdentifyingAttributes: []*protobufs.KeyValue{
			stringKV("host.name", d.HostName),
			stringKV(AttrFleetID, d.FleetID),
			stringKV(AttrFleetRole, d.Role),
		},
	}
}

func (a *Agent) getEffectiveConfig(context.Context) (*protobufs.EffectiveConfig, error) {
	a.mu.Lock()
	body := a.effective
	a.mu.Unlock()
	if body == nil {
		return nil, nil
	}
	return &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
		"": {Body: body, ContentType: "text/yaml"},
	}}}, nil
}

// The connection callbacks log state changes once, never every retry; the endpoint is logged
// without user info or query (they may carry credentials).
func (a *Agent) onConnect(context.Context) {
	a.mu.Lock()
	changed := !a.connected
	a.connected, a.failing = true, false
	a.mu.Unlock()
	if changed {
		a.set.Logger.Info("Connected to the OpAMP server.", zap.String("endpoint", SafeURL(a.set.Endpoint)))
	}
}

func (a *Agent) onConnectFailed(_ context.Context, err error) {
	a.mu.Lock()
	changed := !a.failing
	a.connected, a.failing = false, true
	a.mu.Unlock()
	if changed {
		a.set.Logger.Warn("Cannot reach the OpAMP server; retrying with backoff. The pipelines are not affected.",
			zap.String("endpoint", SafeURL(a.set.Endpoint)), zap.String("error", scrub(err)))
	}
}

func (a *Agent) onError(_ context.Context, resp *protobufs.ServerErrorResponse) {
	a.set.Logger.Warn("The OpAMP server answered with an error.", zap.String("endpoint", SafeURL(a.set.Endpoint)),
		zap.String("type", resp.GetType().String()), zap.String("message", resp.GetErrorMessage()))
}

// SafeURL is u without user info, query or fragment, for logs and /status.
func SafeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String()
}

// scrub removes URLs' user info from an error text (url.Error quotes the URL it failed on).
func scrub(err error) string {
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + SafeURL(ue.URL) + ": " + ue.Err.Error()
	}
	return err.Error()
}

func stringKV(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}

func unixNano(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

func ptr[T any](v T) *T { return &v }

// zapLogger hands opamp-go's messages to zap at Debug: connection state changes are logged by
// the callbacks above, once each, and opamp-go logs every failed retry as an error.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Debugf(_ context.Context, format string, v ...any) {
	z.l.Debug(userInfo.ReplaceAllString(fmt.Sprintf(format, v...), "://"))
}

func (z zapLogger) Errorf(_ context.Context, format string, v ...any) {
	z.l.Debug(userInfo.ReplaceAllString(fmt.Sprintf(format, v...), "://"))
}

// userInfo matches the user info of a URL inside a text.
var userInfo = regexp.MustCompile(`://[^/@\s]+@`)
