package bench

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// VMAgentVersion is the peer make bench measures beside the collector: the Makefile builds this
// version into .tools/ and passes its path (-vmagent).
const VMAgentVersion = "v1.151.0"

// agent is a process under test: the collector, or the peer.
type agent interface {
	Pid() int
	Exited() bool
	Logs() string
	MetricsURL() string
	Stop(t fleettest.T)
}

var _ agent = (*fleettest.Collector)(nil)

// vmagentPipeline is the peer as one more pipeline: OTLP/HTTP in at /opentelemetry/v1/metrics,
// remote write to the same sink, one queue (-remoteWrite.queues=1, vmagent's only setting that
// keeps each series in order), Prometheus' protocol (the sink speaks only that), its buffer on
// disk in a temporary folder. It serves Go's /debug/pprof/ on the same address (no auth key
// unless -pprofAuthKey), so its CPU is profiled like the collector's. binary "" or missing:
// unavailable.
func vmagentPipeline(binary string) Pipeline {
	p := Pipeline{Key: "v", Name: "vmagent " + VMAgentVersion + ", one queue", Agent: binary, OTLPPath: "/opentelemetry/v1/metrics", AgentPprof: true}
	if binary == "" {
		p.Unavailable = "no vmagent binary given (-vmagent)"
	} else if _, err := os.Stat(binary); err != nil {
		p.Unavailable = fmt.Sprintf("vmagent binary: %v (make bench builds it into .tools/)", err)
	}
	return p
}

// vmagent is a running vmagent.
type vmagent struct {
	cmd    *exec.Cmd
	listen string
	out    *fleettest.LockedBuffer
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// startVMAgent starts binary listening on listen (OTLP in, its own /metrics), writing to sinkURL,
// and waits until it answers; it is killed at the end of the scope if still running.
func startVMAgent(t fleettest.T, binary, listen, sinkURL string) *vmagent {
	t.Helper()
	cmd := exec.Command(binary,
		"-httpListenAddr="+listen,
		"-remoteWrite.url="+sinkURL,
		"-remoteWrite.queues=1",
		"-remoteWrite.forcePromProto=true",
		"-remoteWrite.tmpDataPath="+t.TempDir(),
		"-loggerLevel=WARN",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	v := &vmagent{cmd: cmd, listen: listen, out: &fleettest.LockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = v.out, v.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vmagent: %v", err)
	}
	go func() {
		err := cmd.Wait()
		v.mu.Lock()
		v.err = err
		v.mu.Unlock()
		close(v.done)
	}()
	t.Cleanup(v.kill)
	client := &http.Client{Timeout: time.Second}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if v.Exited() {
			t.Fatalf("vmagent exited at start:\n%s", tailString(v.Logs(), 3000))
		}
		if resp, err := client.Get("http://" + listen + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return v
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("vmagent did not answer on %s within 30s:\n%s", listen, tailString(v.Logs(), 3000))
		}
	}
}

func (v *vmagent) Pid() int           { return v.cmd.Process.Pid }
func (v *vmagent) Logs() string       { return v.out.String() }
func (v *vmagent) MetricsURL() string { return "http://" + v.listen + "/metrics" }

func (v *vmagent) Exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

func (v *vmagent) kill() {
	if !v.Exited() {
		_ = v.cmd.Process.Kill()
		<-v.done
	}
}

// Stop sends SIGTERM and fails unless vmagent exits cleanly within 30 s.
func (v *vmagent) Stop(t fleettest.T) {
	if v.Exited() {
		t.Errorf("vmagent had already exited: %v", v.err)
		return
	}
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.done:
		v.mu.Lock()
		defer v.mu.Unlock()
		var exit *exec.ExitError
		if v.err != nil && !errors.As(v.err, &exit) {
			t.Errorf("vmagent: %v", v.err)
		}
	case <-time.After(30 * time.Second):
		v.kill()
		t.Errorf("vmagent did not exit within 30s of SIGTERM; killed")
	}
}
