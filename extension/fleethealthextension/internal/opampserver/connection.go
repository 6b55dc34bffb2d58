package opampserver

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"github.com/gorilla/websocket"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server/types"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/fleet"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/opampagent"
)

// connection is one OpAMP connection (a WebSocket, or one plain HTTP request).
type connection struct {
	srv   *Server
	owner string
}

// onConnected bounds the size of one WebSocket message. opamp-go v0.23 reads WebSocket messages
// without a limit and offers no setting for it; its connection type keeps the gorilla connection
// in an unexported field, read here so SetReadLimit can be called before the first read (the
// read loop starts after OnConnected, on the same goroutine). TestWebSocketMessageLimit fails if
// a newer opamp-go changes that field. Plain HTTP bodies are bounded by confighttp.
func (c *connection) onConnected(_ context.Context, conn types.Connection) {
	if ws := gorillaConn(conn); ws != nil {
		ws.SetReadLimit(c.srv.set.MaxMessageBytes)
	}
}

func gorillaConn(conn types.Connection) *websocket.Conn {
	v := reflect.ValueOf(conn)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("wsConn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*websocket.Conn]() {
		return nil
	}
	return *(**websocket.Conn)(unsafe.Pointer(f.UnsafeAddr())) //nolint:gosec // see onConnected
}

// onMessage records a message in the registry. A message from a member the registry does not
// know and without its description asks the agent for its full state (after a restart of this
// collector, or a member forgotten and back).
func (c *connection) onMessage(ctx context.Context, conn types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
	uid := msg.GetInstanceUid()
	if len(uid) != 16 {
		c.srv.dropped(ctx, fleet.ReasonMalformed, "OpAMP message refused: its instance uid is not 16 bytes.")
		return errorResponse(uid, "instance_uid must be 16 bytes")
	}
	key := hex.EncodeToString(uid)
	if msg.GetAgentDisconnect() != nil {
		return nil
	}
	reg := c.srv.set.Registry
	if !reg.Known(key) && msg.GetAgentDescription() == nil {
		// Not recorded yet: without a description the view would show a bare uid.
		return &protobufs.ServerToAgent{InstanceUid: uid, Flags: uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)}
	}
	update := updateFrom(msg)
	_, err := reg.Apply(key, c.owner, update)
	switch {
	case errors.Is(err, fleet.ErrNotOwner):
		c.srv.dropped(ctx, fleet.ReasonNotOwner, "OpAMP message refused: its instance uid is registered by another client (credential or address).")
		disconnectLater(conn)
		return errorResponse(uid, "instance_uid registered by another client")
	case errors.Is(err, fleet.ErrMemberLimit):
		c.srv.dropped(ctx, fleet.ReasonMemberLimit, "OpAMP agent refused: the fleet member limit (fleet.max_members) is reached.")
		disconnectLater(conn)
		return &protobufs.ServerToAgent{InstanceUid: uid, ErrorResponse: &protobufs.ServerErrorResponse{
			Type: protobufs.ServerErrorResponseType_ServerErrorResponseType_Unavailable, ErrorMessage: "fleet member limit reached",
			Details: &protobufs.ServerErrorResponse_RetryInfo{RetryInfo: &protobufs.RetryInfo{RetryAfterNanoseconds: uint64(60e9)}},
		}}
	case err != nil:
		return errorResponse(uid, err.Error())
	}
	return &protobufs.ServerToAgent{InstanceUid: uid}
}

// disconnectLater closes a WebSocket once the error response had its chance to be written: the
// read loop that calls onMessage writes the response after it returns. A plain HTTP
// "connection" ends with its request anyway.
func disconnectLater(conn types.Connection) {
	if gorillaConn(conn) == nil {
		return
	}
	time.AfterFunc(disconnectDelay, func() { _ = conn.Disconnect() })
}

// disconnectDelay lets the error response go out before the connection is closed.
const disconnectDelay = 100 * time.Millisecond

func errorResponse(uid []byte, msg string) *protobufs.ServerToAgent {
	return &protobufs.ServerToAgent{InstanceUid: uid, ErrorResponse: &protobufs.ServerErrorResponse{
		Type: protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest, ErrorMessage: msg,
	}}
}

// updateFrom turns a message into a change of the member's report, or nil when the message
// carries nothing the view shows (a heartbeat: it only refreshes the member's age).
func updateFrom(msg *protobufs.AgentToServer) func(*fleet.Report) {
	desc, hl, custom := msg.GetAgentDescription(), msg.GetHealth(), msg.GetCustomMessage()
	var bp *opampagent.Backpressure
	if custom.GetCapability() == opampagent.Capability && custom.GetType() == opampagent.MessageType && len(custom.GetData()) <= maxCustomData {
		var b opampagent.Backpressure
		if json.Unmarshal(custom.GetData(), &b) == nil {
			bp = &b
		}
	}
	if desc == nil && hl == nil && bp == nil {
		return nil
	}
	return func(r *fleet.Report) {
		if desc != nil {
			applyDescription(r, desc)
		}
		if hl != nil {
			r.Ready = hl.GetHealthy()
			r.Verdict = hl.GetStatus()
			if r.Verdict == "" {
				r.Verdict = map[bool]string{true: health.VerdictReady, false: health.VerdictNotReady}[r.Ready]
			}
			r.Reasons = reasonsFrom(hl)
		}
		if bp != nil {
			r.Signals = bp.Utilization
			r.SendLagSeconds = bp.SendLagSeconds
			r.IntervalSeconds = bp.IntervalSeconds
			// The figures' own verdict is as recent as the health, or more: a check whose
			// readiness did not change sends figures only.
			r.Ready, r.Verdict = bp.Ready, bp.Verdict
			// A new slice: views handed out earlier share the old one.
			r.Reasons = make([]string, 0, min(len(bp.Reasons), fleet.MaxReasons))
			for _, reason := range bp.Reasons {
				if len(r.Reasons) >= fleet.MaxReasons {
					break
				}
				r.Reasons = append(r.Reasons, fleet.Truncate(reason.Message, fleet.MaxReasonLength))
			}
		}
	}
}

// maxCustomData bounds a backpressure document decoded (the message itself is bounded by
// max_request_body_size).
const maxCustomData = 64 << 10

func applyDescription(r *fleet.Report, desc *protobufs.AgentDescription) {
	attrs := map[string]string{}
	for _, list := range [][]*protobufs.KeyValue{desc.GetIdentifyingAttributes(), desc.GetNonIdentifyingAttributes()} {
		for i, kv := range list {
			if i >= 64 {
				break
			}
			switch kv.GetKey() {
			case "service.name", "service.instance.id", "service.version", "host.name", opampagent.AttrFleetID, opampagent.AttrFleetRole:
				attrs[kv.GetKey()] = fleet.Truncate(kv.GetValue().GetStringValue(), fleet.MaxStringLength)
			}
		}
	}
	for _, k := range []string{opampagent.AttrFleetID, "host.name", "service.instance.id"} {
		if attrs[k] != "" {
			r.ID = attrs[k]
			break
		}
	}
	r.Role = attrs[opampagent.AttrFleetRole]
	if r.Role == "" {
		r.Role = attrs["service.name"]
	}
	r.Agent = strings.TrimSpace(attrs["service.name"] + " " + attrs["service.version"])
}

// reasonsFrom reads the reasons of a health tree: our agents put them in the top last_error,
// one per line; any agent's unhealthy components are named with their error.
func reasonsFrom(h *protobufs.ComponentHealth) []string {
	if h.GetHealthy() {
		return nil
	}
	var out []string
	for line := range strings.SplitSeq(h.GetLastError(), "\n") {
		if line = strings.TrimSpace(line); line != "" && len(out) < fleet.MaxReasons {
			out = append(out, fleet.Truncate(line, fleet.MaxReasonLength))
		}
	}
	if len(out) > 0 {
		return out
	}
	var walk func(prefix string, h *protobufs.ComponentHealth, depth int)
	walk = func(prefix string, h *protobufs.ComponentHealth, depth int) {
		for k, ch := range h.GetComponentHealthMap() {
			if len(out) >= fleet.MaxReasons || depth > 3 {
				return
			}
			if ch.GetHealthy() {
				continue
			}
			if len(ch.GetComponentHealthMap()) > 0 {
				walk(prefix+k+" ", ch, depth+1)
				continue
			}
			out = append(out, fleet.Truncate(prefix+k+": "+ch.GetStatus()+" "+ch.GetLastError(), fleet.MaxReasonLength))
		}
	}
	walk("", h, 0)
	return out
}
