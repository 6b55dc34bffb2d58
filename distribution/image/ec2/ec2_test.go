// Package ec2_test checks examples/ec2: the agent config (the operating guide's static scrape
// configuration) and the systemd unit that runs it.
package ec2_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"sigs.k8s.io/yaml"

	"github.com/otelcol-fleet/otelcol-fleet/distribution/image/internal/collectortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	installedBinary = "/usr/local/bin/otelcol-fleet"
	installedConfig = "/etc/otelcol-fleet/config.yaml"
	installedEnv    = "/etc/otelcol-fleet/otelcol-fleet.env"
	headroom        = 0.9
)

func exampleDir(t *testing.T) string {
	return filepath.Join(collectortest.RepoRoot(t), "examples", "ec2")
}

// unit is a systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, raw []byte) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "not a key=value line: %q", line)
			require.NotEmpty(t, section, "%q outside a section", line)
			u[section][k] = append(u[section][k], v)
		}
	}
	require.NoError(t, sc.Err())
	return u
}

func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	require.Len(t, v, 1, "[%s] %s", section, key)
	return v[0]
}

// readEnvFile reads KEY=VALUE lines.
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var env []string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		require.Contains(t, line, "=")
		env = append(env, line)
	}
	return env
}

func mebibytes(t *testing.T, size string) float64 {
	t.Helper()
	units := map[string]float64{"K": 1.0 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
	n, err := strconv.ParseFloat(strings.TrimRight(size, "KMGT"), 64)
	require.NoError(t, err, "MemoryMax=%s", size)
	if u := strings.TrimLeft(size, "0123456789."); u != "" {
		return n * units[u]
	}
	return n / (1 << 20)
}

func TestSystemdUnit(t *testing.T) {
	dir := exampleDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "otelcol-fleet.service"))
	require.NoError(t, err)
	u := parseUnit(t, raw)

	assert.Equal(t, installedBinary+" --config "+installedConfig, u.one(t, "Service", "ExecStart"))
	assert.Equal(t, installedEnv, u.one(t, "Service", "EnvironmentFile"))
	assert.Equal(t, "yes", u.one(t, "Service", "DynamicUser"), "the collector runs as no user of the system")
	assert.Equal(t, "SIGTERM", u.one(t, "Service", "KillSignal"))
	assert.Equal(t, "on-failure", u.one(t, "Service", "Restart"))
	assert.Equal(t, "multi-user.target", u.one(t, "Install", "WantedBy"))

	// The memory_limiter refuses data below the unit's memory cap, with headroom.
	cfgRaw, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	require.NoError(t, err)
	var cfg struct {
		Processors map[string]map[string]any `json:"processors"`
	}
	require.NoError(t, yaml.Unmarshal(cfgRaw, &cfg))
	limit, ok := cfg.Processors["memory_limiter"]["limit_mib"].(float64)
	require.True(t, ok, "limit_mib must be set against MemoryMax")
	memoryMax := mebibytes(t, u.one(t, "Service", "MemoryMax"))
	assert.LessOrEqual(t, limit, headroom*memoryMax, "limit_mib %v against MemoryMax %v MiB", limit, memoryMax)

	// The README installs the files where the unit expects them.
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	for _, p := range []string{installedBinary, installedConfig, installedEnv} {
		assert.Contains(t, string(readme), p)
	}
}

// TestSystemdVerify runs systemd's own checker on the unit, with the paths pointed at the
// built binary and the example's files (verify checks that ExecStart is executable).
func TestSystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	dir := exampleDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "otelcol-fleet.service"))
	require.NoError(t, err)
	local := strings.NewReplacer(
		installedBinary, collectortest.Binary(t),
		installedEnv, filepath.Join(dir, "otelcol-fleet.env"),
	).Replace(string(raw))
	unitPath := filepath.Join(t.TempDir(), "otelcol-fleet.service")
	require.NoError(t, os.WriteFile(unitPath, []byte(local), 0o644))
	out, err := exec.Command(analyze, "verify", unitPath).CombinedOutput()
	require.NoError(t, err, "%s", out)
	// verify exits 0 on unknown keys and only warns: any output is a finding.
	assert.Empty(t, strings.TrimSpace(string(out)))
}

func TestConfig(t *testing.T) {
	dir := exampleDir(t)
	cfgRaw, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	require.NoError(t, err)
	var cfg struct {
		Receivers struct {
			Prometheus struct {
				Config struct {
					Global        map[string]any `json:"global"`
					ScrapeConfigs []struct {
						JobName       string `json:"job_name"`
						StaticConfigs []struct {
							Targets []string `json:"targets"`
						} `json:"static_configs"`
					} `json:"scrape_configs"`
				} `json:"config"`
			} `json:"prometheus"`
		} `json:"receivers"`
	}
	require.NoError(t, yaml.Unmarshal(cfgRaw, &cfg))
	prom := cfg.Receivers.Prometheus.Config
	// The guide's static configuration, as it gives it.
	assert.Equal(t, "15s", prom.Global["scrape_interval"])
	require.NotEmpty(t, prom.ScrapeConfigs)
	assert.Equal(t, "prometheus", prom.ScrapeConfigs[0].JobName)
	require.Len(t, prom.ScrapeConfigs[0].StaticConfigs, 1)
	assert.Equal(t, []string{"localhost:9090", "localhost:8081"}, prom.ScrapeConfigs[0].StaticConfigs[0].Targets)

	// Valid with the environment the unit gives it.
	out, err := collectortest.Validate(t, readEnvFile(t, filepath.Join(dir, "otelcol-fleet.env")),
		"--config", filepath.Join(dir, "config.yaml"))
	require.NoError(t, err, "%s", out)
}

// TestConfigRuns starts the collector as the unit does (ExecStart's arguments, the environment
// file), with the remote-write endpoint pointed at a real local Prometheus instead of AMP
// (sigv4auth still signs, with dummy credentials): it must report ready and deliver an OTLP point.
func TestConfigRuns(t *testing.T) {
	dir := exampleDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "otelcol-fleet.service"))
	require.NoError(t, err)
	execStart := strings.Fields(parseUnit(t, raw).one(t, "Service", "ExecStart"))
	require.Equal(t, installedBinary, execStart[0])
	args := strings.NewReplacer(installedConfig, filepath.Join(dir, "config.yaml")).Replace(strings.Join(execStart[1:], " "))

	prom := collectortest.StartPrometheus(t)
	collectortest.RequirePortsFree(t, 4317, 4318, 8888, 13133)
	col := collectortest.StartCollector(t, readEnvFile(t, filepath.Join(dir, "otelcol-fleet.env")),
		append(strings.Fields(args), "--config", "yaml:exporters::ordered_rw::endpoint: "+prom.RemoteWriteURL())...)
	col.RequireReady(t, "http://127.0.0.1:13133")
	collectortest.SendOTLP(t, "127.0.0.1:4318", "ec2-agent", "fleet_packaging_probe", 3)
	collectortest.RequireDelivered(t, prom, col, "ec2-agent", "fleet_packaging_probe", 3)
}
