package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

func server(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz", "/livez":
			_, _ = w.Write([]byte(`{"ready":true}`))
		case "/busy":
			http.Error(w, `{"ready":false,"verdict":"not_ready"}`, http.StatusServiceUnavailable)
		case "/hang":
			<-release
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

func TestRun(t *testing.T) {
	srv := server(t)
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string
		stderrs string
	}{
		{"2xx is healthy", []string{"-url", srv.URL + "/readyz"}, 0, "status 200", ""},
		{"url as argument", []string{srv.URL + "/livez"}, 0, "status 200", ""},
		{"quiet", []string{"-quiet", srv.URL + "/livez"}, 0, "", ""},
		{"503 is unhealthy and shows why", []string{"-url", srv.URL + "/busy"}, 1, "", `status 503: {"ready":false,"verdict":"not_ready"}`},
		{"404 is unhealthy", []string{srv.URL + "/nope"}, 1, "", "status 404"},
		{"timeout", []string{"-timeout", "200ms", srv.URL + "/hang"}, 1, "", "no answer within 200ms"},
		{"nothing listening", []string{"-timeout", "1s", "http://" + closedAddr(t) + "/readyz"}, 1, "", "connection refused"},
		{"bad flag", []string{"-bogus"}, 1, "", "flag provided but not defined"},
		{"bad timeout", []string{"-timeout", "0s"}, 1, "", "-timeout must be positive, found 0s"},
		{"two urls", []string{"http://a", "http://b"}, 1, "", "at most one URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			require.Equal(t, tt.code, run(tt.args, &stdout, &stderr), stderr.String())
			require.Less(t, time.Since(start), 2*time.Second)
			if tt.stdout == "" {
				require.Empty(t, stdout.String())
			} else {
				require.Contains(t, stdout.String(), tt.stdout)
			}
			require.Contains(t, stderr.String(), tt.stderrs)
		})
	}
}

func TestDefaultURL(t *testing.T) {
	require.Equal(t, "http://localhost:13133/readyz", defaultURL)
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestStaticBinary builds the program as `make build` does and runs it: it must be a static
// executable (no dynamic loader: scratch images have none) that exits 0 and 1 as documented.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "healthcheck")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	elf, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NotContains(t, string(elf), "/lib64/ld-linux", "dynamically linked")
	require.NotContains(t, string(elf), "/lib/ld-linux", "dynamically linked")
	st, err := os.Stat(bin)
	require.NoError(t, err)
	t.Logf("healthcheck binary: %d bytes", st.Size())

	srv := server(t)
	require.NoError(t, exec.Command(bin, srv.URL+"/readyz").Run())
	err = exec.Command(bin, srv.URL+"/busy").Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 1, exit.ExitCode())
	out, _ = exec.Command(bin, "-h").CombinedOutput()
	require.True(t, strings.Contains(string(out), "-timeout"), string(out))
}
