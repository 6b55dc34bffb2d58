package fleethealthextension_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// These tests run the real built collector (distribution/_build/otelcol-fleet) with fleet_health
// reporting over OpAMP.

const opampToken = "e2e-fleet-token"

// centralConfig: a collector whose fleet_health serves OpAMP with a bearer token, and whose own
// pipeline sends OTLP to BACKEND_PORT (to show the pipeline is unaffected by what agents do).
const centralConfig = `
extensions:
  bearertokenauth/opamp:
    token: ${env:OPAMP_TOKEN}
  fleet_health:
    endpoint: 127.0.0.1:${env:FH_PORT}
    check_interval: 1s
    fleet:
      id: central
      role: gateway
      stale_after: 3s
      max_members: ${env:MAX_MEMBERS:-1000}
    opamp_server:
      endpoint: 127.0.0.1:${env:OPAMP_PORT}
      auth:
        authenticator: bearertokenauth/opamp
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  otlp_http/backend:
    endpoint: http://127.0.0.1:${env:BACKEND_PORT}
    compression: none
service:
  extensions: [bearertokenauth/opamp, fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [otlp_http/backend]
`

// opampMemberConfig: an agent with ordered_rw (which publishes its send lag) to RW_URL, reporting
// over OpAMP with the token.
const opampMemberConfig = `
extensions:
  bearertokenauth/opamp:
    token: ${env:OPAMP_TOKEN}
  fleet_health:
    endpoint: 127.0.0.1:${env:FH_PORT}
    check_interval: 1s
    recovery_duration: 2s
    thresholds:
      send_lag: 2s
    fleet:
      id: ${env:FLEET_ID}
      role: agent
    opamp:
      endpoint: ${env:OPAMP_URL}
      auth:
        authenticator: bearertokenauth/opamp
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
exporters:
  ordered_rw:
    endpoint: ${env:RW_URL}
    timeout: 2s
    ordering:
      mode: none
service:
  extensions: [bearertokenauth/opamp, fleet_health]
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [ordered_rw]
`

type opampFleetMember struct {
	ID          string             `json:"id"`
	InstanceUID string             `json:"instance_uid"`
	Role        string             `json:"role"`
	State       string             `json:"state"`
	Verdict     string             `json:"verdict"`
	Reasons     []string           `json:"reasons"`
	Signals     map[string]float64 `json:"signals"`
	Trend       *struct {
		Queue   []float64 `json:"queue"`
		SendLag []float64 `json:"send_lag"`
	} `json:"trend"`
}

type opampFleetView struct {
	Counts  map[string]int     `json:"counts"`
	Members []opampFleetMember `json:"members"`
}

func readFleet(url string) (opampFleetView, int) {
	var v opampFleetView
	p := getURL(url + "/fleet")
	_ = json.Unmarshal([]byte(p.Body), &v)
	return v, len(p.Body)
}

func (v opampFleetView) member(id string) opampFleetMember {
	for _, m := range v.Members {
		if m.ID == id {
			return m
		}
	}
	return opampFleetMember{}
}

func startCentral(t *testing.T, env ...string) (c *fleettest.Collector, fleetURL, opampAddr string, backend *stallingBackend, otlp string) {
	backend = startBackend(t)
	fhPort, opampPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t), fleettest.FreePort(t)
	env = append([]string{
		fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OPAMP_PORT=%d", opampPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort),
		fmt.Sprintf("BACKEND_PORT=%d", backend.srv.Listener.Addr().(*net.TCPAddr).Port), "OPAMP_TOKEN=" + opampToken,
	}, env...)
	c = fleettest.StartCollector(t, centralConfig, env...)
	fleetURL = fmt.Sprintf("http://127.0.0.1:%d", fhPort)
	waitFor(t, c, fleetURL+"/livez", 10*time.Second, "central up", func(p probe) bool { return p.Code == http.StatusOK })
	return c, fleetURL, fmt.Sprintf("127.0.0.1:%d", opampPort), backend, fmt.Sprintf("127.0.0.1:%d", otlpPort)
}

// TestE2EOpAMPFleet: two agents report over OpAMP (bearer token; one over WebSocket, one over
// plain HTTP) to a third collector. One's
// destination stalls: the third's /fleet shows it not_ready with the send-lag reason within two
// check intervals of the agent itself turning not ready. The other is killed: missing after
// stale_after. The page renders both, with trends, in headless Chromium. A client without the
// token is refused.
func TestE2EOpAMPFleet(t *testing.T) {
	central, fleetURL, opampAddr, _, _ := startCentral(t)
	members := map[string]*fleettest.Collector{}
	memberURL := map[string]string{}
	backends := map[string]*stallingBackend{}
	// agent-a over WebSocket, agent-b over plain HTTP.
	for id, scheme := range map[string]string{"agent-a": "ws", "agent-b": "http"} {
		backends[id] = startBackend(t)
		fhPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t)
		members[id] = fleettest.StartCollector(t, opampMemberConfig,
			fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort), "FLEET_ID="+id,
			"OPAMP_URL="+scheme+"://"+opampAddr+"/v1/opamp", "OPAMP_TOKEN="+opampToken, "RW_URL="+backends[id].srv.URL+"/api/v1/write")
		memberURL[id] = fmt.Sprintf("http://127.0.0.1:%d", fhPort)
		load(t, fmt.Sprintf("127.0.0.1:%d", otlpPort), 50*time.Millisecond)
	}
	waitFor(t, central, fleetURL+"/fleet", 20*time.Second, "both agents ready in the central /fleet", func(probe) bool {
		v, _ := readFleet(fleetURL)
		return v.member("agent-a").State == "ready" && v.member("agent-b").State == "ready"
	})
	v, _ := readFleet(fleetURL)
	require.Equal(t, "agent", v.member("agent-a").Role)
	require.NotEmpty(t, v.member("agent-a").InstanceUID)

	// agent-a's destination stops answering.
	backends["agent-a"].Stall()
	stalled := time.Now()
	waitFor(t, members["agent-a"], memberURL["agent-a"]+"/readyz", 15*time.Second, "agent-a not ready for send lag", func(p probe) bool {
		return p.Code == http.StatusServiceUnavailable && strings.Contains(p.Body, `"signal": "send_lag"`)
	})
	took := waitFor(t, central, fleetURL+"/fleet", 2*time.Second, "agent-a not_ready with the send-lag reason in the central /fleet", func(probe) bool {
		m, _ := readFleet(fleetURL)
		a := m.member("agent-a")
		return a.State == "not_ready" && len(a.Reasons) > 0 && strings.Contains(strings.Join(a.Reasons, " "), "ordered_rw is") && strings.Contains(strings.Join(a.Reasons, " "), "behind")
	})
	t.Logf("agent-a's destination stalled: the central /fleet showed it not_ready (send lag) %s after the stall, %s after agent-a's own /readyz did (check_interval 1s, thresholds.send_lag 2s)",
		time.Since(stalled).Round(10*time.Millisecond), took.Round(10*time.Millisecond))
	v, _ = readFleet(fleetURL)
	a := v.member("agent-a")
	t.Logf("agent-a reasons in the central view: %q", a.Reasons)
	require.Greater(t, a.Signals["send_lag"], 1.0, "the figure travelled with the custom message")
	require.Equal(t, "not_ready", v.Members[1].State, "worst first, after the central collector itself")

	// The page: rows, state, and the trend sparklines, drawn by the page's script.
	dom := fleettest.DumpDOM(t, fleetURL+"/fleet.html")
	require.Contains(t, dom, `data-live="1"`)
	require.Contains(t, dom, `<tr data-member="agent-a" data-state="not_ready"><td>agent-a</td><td>agent</td><td class="state-not_ready">not_ready</td><td>not_ready</td>`)
	require.Contains(t, dom, `<tr data-member="agent-b" data-state="ready"><td>agent-b</td><td>agent</td>`)
	require.Contains(t, dom, `<svg class="spark"`, "trends are drawn")
	require.NotContains(t, dom, "e2e-fleet-token")
	// Answer again, so agent-a can deliver what it holds when the test stops it.
	backends["agent-a"].Resume()

	// agent-b is killed: missing after stale_after (3s).
	members["agent-b"].Kill(t)
	killed := time.Now()
	took = waitFor(t, central, fleetURL+"/fleet", 3*time.Second+3*time.Second, "agent-b missing", func(probe) bool {
		m, _ := readFleet(fleetURL)
		return m.member("agent-b").State == "missing"
	})
	t.Logf("agent-b shown missing %s after SIGKILL (stale_after 3s)", took.Round(10*time.Millisecond))
	// stale_after counts from agent-b's last report, which came up to one check_interval (1s)
	// before the kill: missing 2s after it at the earliest.
	require.GreaterOrEqual(t, time.Since(killed), 2*time.Second, "not before stale_after from the last report")

	// Without the token: refused, over WebSocket and plain HTTP.
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+opampAddr+"/v1/opamp", nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_ = resp.Body.Close()
	wrong := http.Header{"Authorization": []string{"Bearer wrong"}}
	_, resp, err = websocket.DefaultDialer.Dial("ws://"+opampAddr+"/v1/opamp", wrong)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_ = resp.Body.Close()
	hresp, err := http.Post("http://"+opampAddr+"/v1/opamp", "application/x-protobuf", strings.NewReader(""))
	require.NoError(t, err)
	_ = hresp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, hresp.StatusCode)

	// No credential anywhere it could leak.
	for _, url := range []string{fleetURL + "/status", fleetURL + "/fleet", memberURL["agent-a"] + "/status"} {
		require.NotContains(t, getURL(url).Body, opampToken, url)
	}
	require.NotContains(t, central.Logs(), opampToken)
	require.NotContains(t, members["agent-a"].Logs(), opampToken)
}

// opampHello is the first message a simulated agent sends: its description and health, framed
// as OpAMP's WebSocket transport wants (a zero header byte, then the protobuf).
func opampHello(t *testing.T, i int) []byte {
	uid := make([]byte, 16)
	uid[0], uid[1], uid[2], uid[15] = byte(i>>16), byte(i>>8), byte(i), 0x5a
	msg, err := proto.Marshal(&protobufs.AgentToServer{
		InstanceUid: uid,
		AgentDescription: &protobufs.AgentDescription{NonIdentifyingAttributes: []*protobufs.KeyValue{{Key: "host.name",
			Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: fmt.Sprintf("sim-%05d", i)}}}}},
		Health: &protobufs.ComponentHealth{Healthy: true, Status: "StatusOK"},
	})
	require.NoError(t, err)
	return append([]byte{0}, msg...)
}

// processMemory reads VmRSS and VmHWM (peak) of a process, in bytes.
func processMemory(t *testing.T, pid int) (rss, peak int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// TestE2EOpAMPTenThousandAgents: 10,000 simulated agents (raw WebSockets from this process, each
// with its own instance uid) connect at once. The server keeps at most max_members (1000) + 64
// connections and 1000 members, refuses the rest, its memory stays bounded, /fleet stays
// bounded, and its own pipeline keeps delivering.
func TestE2EOpAMPTenThousandAgents(t *testing.T) {
	t.Run("max_members=1000", func(t *testing.T) { testManyAgents(t, 1000) })
	// Every agent accepted: what 10,000 members and their WebSockets cost.
	t.Run("max_members=10000", func(t *testing.T) { testManyAgents(t, 10000) })
}

func testManyAgents(t *testing.T, maxMembers int) {
	const agents = 10000
	central, fleetURL, opampAddr, backend, otlp := startCentral(t, fmt.Sprintf("MAX_MEMBERS=%d", maxMembers))
	load(t, otlp, 20*time.Millisecond)
	require.Eventually(t, func() bool { return backend.received.Load() > 5 }, 10*time.Second, 50*time.Millisecond)
	rssBefore, _ := processMemory(t, central.Pid())

	header := http.Header{"Authorization": []string{"Bearer " + opampToken}}
	dialer := &websocket.Dialer{HandshakeTimeout: 20 * time.Second}
	var connected, refused atomic.Int64
	var mu sync.Mutex
	var conns []*websocket.Conn
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range agents {
		wg.Go(func() {
			<-start
			c, resp, err := dialer.Dial("ws://"+opampAddr+"/v1/opamp", header)
			if resp != nil && resp.Body != nil {
				_ = resp.Body.Close()
			}
			if err != nil {
				refused.Add(1)
				return
			}
			if c.WriteMessage(websocket.BinaryMessage, opampHello(t, i)) != nil {
				refused.Add(1)
				_ = c.Close()
				return
			}
			connected.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		})
	}
	began := time.Now()
	deliveredBefore := backend.received.Load()
	close(start)
	wg.Wait()
	storm := time.Since(began)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})

	// The registry fills to max_members and stops.
	var members int
	waitFor(t, central, fleetURL+"/fleet", 30*time.Second, "max_members simulated members in /fleet", func(probe) bool {
		v, _ := readFleet(fleetURL)
		members = len(v.Members) - 1 // the central collector itself
		return members == maxMembers
	})
	rssAfter, peak := processMemory(t, central.Pid())
	v, size := readFleet(fleetURL)
	t.Logf("%d agents at once: %d handshakes completed, %d refused or closed, in %s; members %d (ready %d)",
		agents, connected.Load(), refused.Load(), storm.Round(time.Millisecond), members, v.Counts["ready"])
	t.Logf("central RSS: %.0f MiB before, %.0f MiB after, peak %.0f MiB; GET /fleet %d KiB",
		float64(rssBefore)/(1<<20), float64(rssAfter)/(1<<20), float64(peak)/(1<<20), size>>10)

	require.Equal(t, maxMembers, members, "bounded by max_members")
	m := central.Metrics(t)
	t.Logf("refusals counted: member_limit %.0f, connection_limit %.0f",
		m[`otelcol_extension_fleet_health_reports_dropped{extension="fleet_health",reason="member_limit"}`],
		m[`otelcol_extension_fleet_health_reports_dropped{extension="fleet_health",reason="connection_limit"}`])
	if maxMembers < agents {
		require.Less(t, peak, int64(400<<20), "server memory bounded")
		require.Less(t, size, 2<<20, "the view is bounded")
		require.Positive(t, m[`otelcol_extension_fleet_health_reports_dropped{extension="fleet_health",reason="connection_limit"}`]+
			m[`otelcol_extension_fleet_health_reports_dropped{extension="fleet_health",reason="member_limit"}`])
	}

	// The pipeline was not affected: it kept delivering through the storm and does now.
	deliveredDuring := backend.received.Load() - deliveredBefore
	require.Positive(t, deliveredDuring, "delivered during the storm")
	now := backend.received.Load()
	require.Eventually(t, func() bool { return backend.received.Load() > now+5 }, 10*time.Second, 50*time.Millisecond, "and after it")
	require.Equal(t, http.StatusOK, getURL(fleetURL+"/readyz").Code)
}

// exampleConfigMap returns the config.yaml of the ConfigMap named name in a multi-document
// Kubernetes manifest.
func exampleConfigMap(t *testing.T, path, name string) string {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for doc := range strings.SplitSeq(string(raw), "\n---\n") {
		var obj struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Data map[string]string `yaml:"data"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
		if obj.Kind == "ConfigMap" && obj.Metadata.Name == name {
			return obj.Data["config.yaml"]
		}
	}
	t.Fatalf("no ConfigMap %s in %s", name, path)
	return ""
}

// TestE2EExampleFleetView runs examples/eks/fleet-view: the fleet view's ConfigMap config with
// the Deployment's environment (pod IP 127.0.0.1, the Secret's token), and agent.yaml with the
// token file, as another pod (127.0.0.2). The agent shows in the view; no token, no entry.
func TestE2EExampleFleetView(t *testing.T) {
	fleettest.LockDefaultPorts(t) // the example listens on 8888 and 13133 of the pod IP
	dir := filepath.Join(fleettest.RepoRoot(), "examples", "eks", "fleet-view")
	view := fleettest.StartCollectorOnPort(t, exampleConfigMap(t, filepath.Join(dir, "fleet-view.yaml"), "otelcol-fleet-fleet-view"), 8888,
		"MY_POD_IP=127.0.0.1", "FLEET_OPAMP_TOKEN="+opampToken)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(opampToken+"\n"), 0o600))
	agentConfig, err := os.ReadFile(filepath.Join(dir, "agent.yaml"))
	require.NoError(t, err)
	fleettest.StartCollector(t, string(agentConfig), "MY_POD_IP=127.0.0.2", "K8S_NODE_NAME=node-1",
		"FLEET_OPAMP_TOKEN_FILE="+tokenFile, "FLEET_OPAMP_ENDPOINT=ws://127.0.0.1:4320/v1/opamp")

	waitFor(t, view, "http://127.0.0.1:13133/fleet", 20*time.Second, "node-1 in the example's fleet view", func(probe) bool {
		v, _ := readFleet("http://127.0.0.1:13133")
		return v.member("node-1").State == "ready"
	})
	v, _ := readFleet("http://127.0.0.1:13133")
	require.Equal(t, "agent", v.member("node-1").Role)
	require.Equal(t, "fleet-view", v.Members[0].ID)
	_, resp, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:4320/v1/opamp", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_ = resp.Body.Close()
}

// TestE2EOpAMPServerDown: an agent whose OpAMP server is down delivers and answers ready as
// usual, and says so once in its log.
func TestE2EOpAMPServerDown(t *testing.T) {
	backend := startBackend(t)
	fhPort, otlpPort := fleettest.FreePort(t), fleettest.FreePort(t)
	c := fleettest.StartCollector(t, opampMemberConfig,
		fmt.Sprintf("FH_PORT=%d", fhPort), fmt.Sprintf("OTLP_PORT=%d", otlpPort), "FLEET_ID=lonely",
		fmt.Sprintf("OPAMP_URL=ws://127.0.0.1:%d/v1/opamp", fleettest.FreePort(t)), "OPAMP_TOKEN="+opampToken,
		"RW_URL="+backend.srv.URL+"/api/v1/write")
	base := fmt.Sprintf("http://127.0.0.1:%d", fhPort)
	load(t, fmt.Sprintf("127.0.0.1:%d", otlpPort), 50*time.Millisecond)
	require.Eventually(t, func() bool { return backend.received.Load() > 10 }, 15*time.Second, 50*time.Millisecond, "the pipeline delivers")
	waitFor(t, c, base+"/readyz", 10*time.Second, "ready", func(p probe) bool { return p.Code == http.StatusOK })
	time.Sleep(3 * time.Second) // several retries
	require.Equal(t, http.StatusOK, getURL(base+"/readyz").Code)
	require.Equal(t, 1, strings.Count(c.Logs(), "Cannot reach the OpAMP server"), "logged once, not per retry")
	require.Contains(t, getURL(base+"/status").Body, `"connected": false`)
}
