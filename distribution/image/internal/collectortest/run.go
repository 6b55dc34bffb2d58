package collectortest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a started program that the test stops.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited; err is then its exit error
	err  error
}

func start(t testing.TB, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), env...), offlineEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits; it returns the exit error, or an error if it did not exit.
func (p *process) stop(timeout time.Duration) error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("no exit within %s of SIGTERM", timeout)
	}
}

// Prometheus is a real Prometheus (Debian package prometheus) with its remote-write receiver,
// standing in for Amazon Managed Service for Prometheus.
type Prometheus struct {
	url string
}

// StartPrometheus starts Prometheus on a free loopback port; it is stopped at the test's end.
func StartPrometheus(t testing.TB) *Prometheus {
	t.Helper()
	if os.Getenv("FLEET_SKIP_E2E") == "1" {
		t.Skip("FLEET_SKIP_E2E=1: this test runs a real Prometheus")
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed (Debian package prometheus; `make test-deps`): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	p := &Prometheus{url: "http://127.0.0.1:" + strconv.Itoa(port)}
	proc := start(t, nil, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--web.enable-remote-write-receiver",
		"--query.lookback-delta=1h")
	t.Cleanup(func() {
		if err := proc.stop(20 * time.Second); err != nil {
			t.Logf("prometheus stop: %v", err)
		}
	})
	waitUntil(t, time.Minute, func() bool { return status(p.url+"/-/ready") == http.StatusOK },
		"prometheus never became ready:\n%s", proc.out)
	return p
}

// RemoteWriteURL is where Prometheus accepts remote write.
func (p *Prometheus) RemoteWriteURL() string { return p.url + "/api/v1/write" }

// Value runs an instant query and returns the first result's value.
func (p *Prometheus) Value(promql string) (float64, bool) {
	resp, err := http.PostForm(p.url+"/api/v1/query", url.Values{"query": {promql}})
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data.Result) == 0 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// portsLock serializes, across this module's test packages (which go test runs in parallel),
// the tests that run a collector on the fixed default ports.
const portsLock = "/tmp/otelcol-fleet-default-ports.lock"

// RequirePortsFree takes the ports lock until the end of the test, then waits until the
// loopback ports are free: shipped configs listen on the collector's fixed ports, and another
// collector on this machine may hold them for a while.
func RequirePortsFree(t testing.TB, ports ...int) {
	t.Helper()
	f, err := os.OpenFile(portsLock, os.O_CREATE|os.O_RDWR, 0o666)
	require.NoError(t, err)
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	})
	waitUntil(t, time.Minute, func() bool {
		for _, p := range ports {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				return false
			}
			l.Close()
		}
		return true
	}, "ports %v stay busy", ports)
}

// Collector is the built collector running a shipped config.
type Collector struct {
	proc *process
}

// StartCollector runs the built binary with args and env ("K=V"); at the test's end it is
// stopped with SIGTERM, and the test fails unless it exits cleanly.
func StartCollector(t testing.TB, env []string, args ...string) *Collector {
	t.Helper()
	c := &Collector{proc: start(t, env, Binary(t), args...)}
	t.Cleanup(func() {
		if err := c.proc.stop(30 * time.Second); err != nil {
			t.Errorf("collector did not stop cleanly: %v\n%s", err, c.proc.out)
		}
	})
	return c
}

// Logs is what the collector printed so far.
func (c *Collector) Logs() string { return c.proc.out.String() }

// RequireReady waits until fleet_health at base (http://host:port) reports ready, and checks
// liveness.
func (c *Collector) RequireReady(t testing.TB, base string) {
	t.Helper()
	waitUntil(t, time.Minute, func() bool {
		if c.proc.exited() {
			return true
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ready struct {
			Ready bool `json:"ready"`
		}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&ready) == nil && ready.Ready
	}, "%s/readyz never reported ready:\n%s", base, c.proc.out)
	if c.proc.exited() {
		t.Fatalf("the collector exited:\n%s", c.proc.out)
	}
	if code := status(base + "/livez"); code != http.StatusOK {
		t.Fatalf("%s/livez answered %d", base, code)
	}
}

// SendOTLP posts one gauge point, as OTLP/HTTP JSON, to endpoint (host:port).
func SendOTLP(t testing.TB, endpoint, service, metric string, value float64) {
	t.Helper()
	body := fmt.Sprintf(`{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":%q}}]},`+
		`"scopeMetrics":[{"metrics":[{"name":%q,"gauge":{"dataPoints":[{"timeUnixNano":"%d","asDouble":%g}]}}]}]}]}`,
		service, metric, time.Now().UnixNano(), value)
	resp, err := http.Post("http://"+endpoint+"/v1/metrics", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("OTLP to %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("OTLP to %s: status %d: %s", endpoint, resp.StatusCode, b)
	}
}

// RequireDelivered waits until Prometheus holds metric{job=service} with the value.
func RequireDelivered(t testing.TB, p *Prometheus, c *Collector, service, metric string, value float64) {
	t.Helper()
	query := fmt.Sprintf(`%s{job=%q}`, metric, service)
	waitUntil(t, time.Minute, func() bool {
		v, ok := p.Value(query)
		return ok && v == value
	}, "%s never reached Prometheus:\n%s", query, c.proc.out)
}

func status(u string) int {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// waitUntil fails the test with the message unless cond holds within timeout.
func waitUntil(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, timeout, 200*time.Millisecond, append([]any{format}, args...)...)
}
