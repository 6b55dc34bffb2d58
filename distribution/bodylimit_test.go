package distribution

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-fleet/otelcol-fleet/internal/fleettest"
)

// maxRequestBytes is the largest decompressed OTLP request a shipped config may accept: 8 MiB.
const maxRequestBytes = 8 << 20

// guideVerbatim are shipped configs that reproduce the operating guide's blocks unchanged, to show
// that the converter runs them: they keep the guide's receivers as they are.
var guideVerbatim = map[string]bool{filepath.Join("examples", "adot-compat", "agent-guide.yaml"): true}

// collectorConfigs are the collector configs shipped as files (shippedConfigs and the ECS task
// configs) and those inside the Kubernetes manifests' ConfigMaps, by a name relative to the
// repository root.
func collectorConfigs(t *testing.T) map[string]map[string]any {
	t.Helper()
	root := fleettest.RepoRoot()
	out := map[string]map[string]any{}
	for _, path := range shippedConfigs(t) {
		rel, _ := filepath.Rel(root, path)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(raw, &doc), rel)
		out[rel] = doc
	}
	ecs, err := filepath.Glob(filepath.Join(root, "distribution", "ecs", "*", "config.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, ecs)
	for _, path := range ecs {
		rel, _ := filepath.Rel(root, path)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(raw, &doc), rel)
		out[rel] = doc
	}
	manifests, err := filepath.Glob(filepath.Join(root, "examples", "eks", "*", "*.yaml"))
	require.NoError(t, err)
	for _, path := range manifests {
		rel, _ := filepath.Rel(root, path)
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var obj struct {
				Kind string            `yaml:"kind"`
				Data map[string]string `yaml:"data"`
			}
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				continue // not a ConfigMap shape
			}
			if obj.Kind != "ConfigMap" {
				continue
			}
			for key, value := range obj.Data {
				var doc map[string]any
				if yaml.Unmarshal([]byte(value), &doc) != nil {
					continue
				}
				if svc, ok := doc["service"].(map[string]any); ok && svc["pipelines"] != nil {
					out[rel+":"+key] = doc
				}
			}
		}
	}
	return out
}

func number(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}

// TestShippedConfigsBoundRequests: every OTLP receiver we ship bounds its requests after
// decompression, at most 8 MiB (HTTP `max_request_body_size`, gRPC `max_recv_msg_size_mib`), and
// every pipeline an OTLP receiver feeds starts with memory_limiter.
func TestShippedConfigsBoundRequests(t *testing.T) {
	configs := collectorConfigs(t)
	require.GreaterOrEqual(t, len(configs), 10, "the default config, the examples, the ECS configs and the EKS manifests' configs")
	for name, doc := range configs {
		if guideVerbatim[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			receivers, _ := doc["receivers"].(map[string]any)
			var otlp []string
			for id, raw := range receivers {
				if id != "otlp" && !strings.HasPrefix(id, "otlp/") {
					continue
				}
				otlp = append(otlp, id)
				cfg, _ := raw.(map[string]any)
				protocols, _ := cfg["protocols"].(map[string]any)
				if h, ok := protocols["http"].(map[string]any); ok {
					got := number(h["max_request_body_size"])
					assert.True(t, got > 0 && got <= maxRequestBytes, "%s: protocols.http.max_request_body_size must be set, at most 8 MiB, found %v", id, h["max_request_body_size"])
				}
				if g, ok := protocols["grpc"].(map[string]any); ok {
					got := number(g["max_recv_msg_size_mib"])
					assert.True(t, got > 0 && got <= maxRequestBytes>>20, "%s: protocols.grpc.max_recv_msg_size_mib must be set, at most 8, found %v", id, g["max_recv_msg_size_mib"])
				}
			}
			svc, _ := doc["service"].(map[string]any)
			pipelines, _ := svc["pipelines"].(map[string]any)
			for pname, raw := range pipelines {
				p, _ := raw.(map[string]any)
				fed := false
				for _, r := range asStrings(p["receivers"]) {
					for _, id := range otlp {
						fed = fed || r == id
					}
				}
				if !fed {
					continue
				}
				procs := asStrings(p["processors"])
				require.NotEmpty(t, procs, "pipeline %s", pname)
				assert.True(t, procs[0] == "memory_limiter" || strings.HasPrefix(procs[0], "memory_limiter/"),
					"pipeline %s: memory_limiter must come first, found %v", pname, procs)
			}
		})
	}
}

func asStrings(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, _ := it.(string)
		out = append(out, s)
	}
	return out
}

// inflatingRequest is an OTLP metrics request of one sample whose label value is size bytes of
// "a", gzip-compressed: 20 MB compress to about 20 KB.
func inflatingRequest(t *testing.T, size int) (plain int, gzipped []byte) {
	t.Helper()
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("inflating")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	dp.Attributes().PutStr("big", strings.Repeat("a", size))
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(body)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return len(body), buf.Bytes()
}

func postGzip(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(answer)
}

func processRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	require.NotNil(t, m)
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// runDefaultLike starts the binary on cfg (the default config's fixed ports), waits until its
// OTLP/HTTP port answers, and returns its pid and a function that kills it.
func runDefaultLike(t *testing.T, cfg string) (int, func()) {
	t.Helper()
	fleettest.LockDefaultPorts(t)
	cmd := exec.Command(fleettest.CollectorBinary(t), "--config", cfg)
	// No backend: what is accepted is never delivered, and need not be.
	cmd.Env = append(exampleEnv(t), "FLEET_REMOTE_WRITE_ENDPOINT=http://127.0.0.1:1/api/v1/write")
	out := &fleettest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		select {
		case <-done:
			return
		default:
		}
		// Killed: what it accepted has nowhere to go, and a graceful shutdown would spend
		// ordering.shutdown_timeout retrying it.
		_ = cmd.Process.Kill()
		<-done
	}
	t.Cleanup(stop)
	require.Eventually(t, func() bool { return httpStatus("http://localhost:4318/v1/metrics") != 0 }, time.Minute, 100*time.Millisecond,
		"the OTLP/HTTP receiver never answered:\n%s", out)
	return cmd.Process.Pid, stop
}

// TestGzipBombRefusedByDefaultConfig: a 20 KB gzip body that inflates to 20 MB. Before, the default
// config accepted it (HTTP's 20 MiB default bound), and 32 at once took RSS to 2 GB against a
// 1 GiB memory_limiter. With the default config it is refused (400, "request body too large") now; a normal compressed
// request is still taken. The same config without max_request_body_size accepts the bomb: the
// key is what refuses it.
func TestGzipBombRefusedByDefaultConfig(t *testing.T) {
	const url = "http://localhost:4318/v1/metrics"
	plain, bomb := inflatingRequest(t, 20_000_000)
	require.Less(t, len(bomb), 64<<10, "the premise: a small compressed body")
	_, normal := inflatingRequest(t, 10)
	defaultCfg := filepath.Join(fleettest.RepoRoot(), "distribution", "config.yaml")

	// Each run in a subtest of its own: the default ports are locked until the end of a test.
	t.Run("default config", func(t *testing.T) {
		pid, stop := runDefaultLike(t, defaultCfg)
		before := processRSS(t, pid)
		status, answer := postGzip(t, url, bomb)
		after := processRSS(t, pid)
		// The receiver's read of the body stops at the bound; it answers 400 with the reason.
		assert.Equal(t, http.StatusBadRequest, status, "the inflating body is refused")
		assert.Contains(t, answer, "request body too large")
		status2, _ := postGzip(t, url, normal)
		assert.Equal(t, http.StatusOK, status2, "a normal compressed request is taken")
		stop()
		t.Logf("default config: %d-byte gzip body inflating to %d bytes answered %d; RSS %.0f -> %.0f MiB",
			len(bomb), plain, status, float64(before)/(1<<20), float64(after)/(1<<20))
	})

	t.Run("without the bound", func(t *testing.T) {
		raw, err := os.ReadFile(defaultCfg)
		require.NoError(t, err)
		unbounded := regexp.MustCompile(`(?m)^\s+(max_request_body_size|max_recv_msg_size_mib):.*\n`).ReplaceAll(raw, nil)
		require.NotEqual(t, raw, unbounded)
		cfg := filepath.Join(t.TempDir(), "unbounded.yaml")
		require.NoError(t, os.WriteFile(cfg, unbounded, 0o600))
		pid, stop := runDefaultLike(t, cfg)
		before := processRSS(t, pid)
		status, _ := postGzip(t, url, bomb)
		after := processRSS(t, pid)
		stop()
		assert.Equal(t, http.StatusOK, status, "without max_request_body_size the bomb is accepted (HTTP's 20 MiB default)")
		t.Logf("without the bound: answered %d; RSS %.0f -> %.0f MiB", status, float64(before)/(1<<20), float64(after)/(1<<20))
	})
}
