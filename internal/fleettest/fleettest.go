// Package fleettest starts the real parts that end-to-end tests run against: the built
// otelcol-fleet binary and a real Prometheus server, on loopback only. Every process is started
// by the test and stopped by its PID in t.Cleanup, also when the test fails.
package fleettest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// T is the part of testing.TB the harness uses. *testing.T and *testing.B satisfy it; so does
// the demo program's own implementation, which runs the same stack outside `go test`.
type T interface {
	Helper()
	Cleanup(func())
	TempDir() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// EnvSkip, when set to 1, skips end-to-end tests (for a quick unit-only run).
const EnvSkip = "FLEET_SKIP_E2E"

// EnvBinary, when set, names the collector binary to run instead of the one `make build` writes,
// so that fleetbench -binary measures the binary it names.
const EnvBinary = "FLEET_COLLECTOR_BINARY"

// RepoRoot returns the repository root, found from this source file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CollectorBinary returns the path of the built collector. The test fails when it is missing:
// `make test` builds it first, and an end-to-end claim must not pass by skipping silently.
func CollectorBinary(t T) string {
	t.Helper()
	SkipIfE2EDisabled(t)
	p := os.Getenv(EnvBinary)
	if p == "" {
		p = filepath.Join(RepoRoot(), "distribution", "_build", "otelcol-fleet")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("collector binary not built (%v): run `make build` first", err)
	}
	return p
}

// GatewayBinary returns the gateway-only build of the distribution (`make build-gateway`). Like
// CollectorBinary, it fails when the binary is missing rather than skipping: `make test` builds it.
func GatewayBinary(t T) string {
	t.Helper()
	SkipIfE2EDisabled(t)
	p := GatewayBinaryPath()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("gateway binary not built (%v): run `make build-gateway` first", err)
	}
	return p
}

// GatewayBinaryPath is where `make build-gateway` puts the gateway-only binary.
func GatewayBinaryPath() string {
	return filepath.Join(RepoRoot(), "distribution", "_build", "gateway", "otelcol-fleet-gateway")
}

// SkipIfE2EDisabled skips the test when FLEET_SKIP_E2E=1.
func SkipIfE2EDisabled(t T) {
	t.Helper()
	if os.Getenv(EnvSkip) == "1" {
		t.Skipf("%s=1: end-to-end tests skipped", EnvSkip)
	}
}

var (
	portMu    sync.Mutex
	portsUsed = map[int]bool{}
)

// FreePort returns a loopback TCP port that is free now and not handed out before in this process.
func FreePort(t T) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !portsUsed[port] {
			portsUsed[port] = true
			return port
		}
	}
	t.Fatal("no free port found")
	return 0
}

// LockedBuffer collects a process' output while it runs; safe to read while it is written.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a started child with its output captured.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *LockedBuffer
	done   chan struct{}
	waitMu sync.Mutex
	err    error
}

func startProcess(t T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	// Its own process group: a Ctrl-C at the terminal reaches the test or demo, which then
	// stops its children in order, instead of reaching every child at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &LockedBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.waitMu.Lock()
		p.err = err
		p.waitMu.Unlock()
		close(p.done)
	}()
	// Safety net: whatever the test does, the process does not outlive it.
	t.Cleanup(func() { p.kill() })
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

func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// terminate sends SIGTERM and waits up to timeout; it reports the exit error, or an error when
// the process had to be killed.
func (p *process) terminate(timeout time.Duration) error {
	if p.exited() {
		p.waitMu.Lock()
		defer p.waitMu.Unlock()
		return fmt.Errorf("%s had already exited: %v", p.name, p.err)
	}
	_ = p.cmd.Process.Signal(syscallSIGTERM)
	select {
	case <-p.done:
		p.waitMu.Lock()
		defer p.waitMu.Unlock()
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.name, timeout)
	}
}

// waitFor polls cond until it is true or the timeout passes; it fails the test with the
// process' output when the process exits first or time runs out.
func waitFor(t T, p *process, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			t.Fatalf("%s exited while waiting for %s; output:\n%s", p.name, what, tail(p.out.String(), 4000))
		}
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := ""
	if p != nil {
		out = tail(p.out.String(), 4000)
	}
	t.Fatalf("timed out after %s waiting for %s; output:\n%s", timeout, what, out)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// LookPath finds a program, also in the sbin directories Debian installs servers to.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: `make test` installs it (apt-get install %s)", name, strings.Split(name, " ")[0])
}
