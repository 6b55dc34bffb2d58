package fleettest

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// defaultPortsLock serializes, across test packages and modules (go test runs packages in
// parallel; distribution/image uses the same file), the tests that run a shipped config on the
// collector's fixed default ports.
const defaultPortsLock = "/tmp/otelcol-fleet-default-ports.lock"

// DefaultPorts are the listeners shipped configs use: OTLP gRPC and HTTP, self-telemetry, health.
var DefaultPorts = []int{4317, 4318, 8888, 13133}

// LockDefaultPorts holds the default-ports lock until the end of the test, then waits until
// those ports are free on loopback (a collector stopped a moment ago may still hold them).
func LockDefaultPorts(t T) {
	t.Helper()
	f, err := os.OpenFile(defaultPortsLock, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("ports lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("ports lock: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	})
	waitFor(t, nil, time.Minute, "default ports free", func() bool {
		for _, p := range DefaultPorts {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				return false
			}
			_ = l.Close()
		}
		return true
	})
}
