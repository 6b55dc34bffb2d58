package fleethealthextension

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/metadata"
)

func TestUnmarshalDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(&cfg))
	require.Equal(t, createDefaultConfig(), cfg)
	require.NoError(t, confmap.Validate(cfg))
	c := cfg.(*Config)
	require.Equal(t, "localhost:13133", c.NetAddr.Endpoint)
	require.Equal(t, 5*time.Second, c.CheckInterval)
	require.Empty(t, c.TelemetryEndpoint, "derived from service.telemetry at start")
	require.Equal(t, ThresholdsConfig{QueueUtilization: 0.8, MemoryUtilization: 0.9, RefusedRatio: 0.01, SendFailureRatio: 0.05, SendLag: 15 * time.Second}, c.Thresholds)
	require.Equal(t, 30*time.Second, c.RecoveryDuration)
	require.Equal(t, 30*time.Second, c.Fleet.StaleAfter)
	require.Empty(t, c.Fleet.ReportTo)
	require.Empty(t, c.OpAMP.Endpoint, "no reports unless configured")
	require.False(t, c.OpAMPServer.HasValue(), "no OpAMP server unless configured")
	require.True(t, c.ReleaseStartupPages)
	require.Equal(t, uint32(16), c.GCHeadroomMiB)
}

// TestOpAMPServerDefaults: an empty `opamp_server:` section listens on localhost:4320.
func TestOpAMPServerDefaults(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"opamp_server": map[string]any{}}).Unmarshal(&cfg))
	c := cfg.(*Config)
	require.True(t, c.OpAMPServer.HasValue())
	require.Equal(t, "localhost:4320", c.OpAMPServer.Get().NetAddr.Endpoint)
	require.Equal(t, int64(1<<20), c.OpAMPServer.Get().MaxRequestBodySize)
	require.NoError(t, confmap.Validate(c))
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	sub, err := cm.Sub(component.NewID(metadata.Type).String())
	require.NoError(t, err)
	cfg := createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	require.Equal(t, createDefaultConfig(), cfg, "an empty section is the defaults")

	sub, err = cm.Sub(component.NewIDWithName(metadata.Type, "custom").String())
	require.NoError(t, err)
	cfg = createDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	want := createDefaultConfig().(*Config)
	want.NetAddr.Endpoint = "0.0.0.0:13134"
	want.CheckInterval = 2 * time.Second
	want.TelemetryEndpoint = "http://127.0.0.1:9999/metrics"
	want.Thresholds = ThresholdsConfig{QueueUtilization: 0.5, MemoryUtilization: 0.75, RefusedRatio: 0, SendFailureRatio: 0.2, SendLag: 0}
	want.RecoveryDuration = time.Minute
	want.Fleet = FleetConfig{ID: "agent-7", Role: "agent", StaleAfter: 15 * time.Second, ForgetAfter: 10 * time.Minute, MaxMembers: 50}
	want.OpAMP.Endpoint = "wss://gateway:4320/v1/opamp"
	want.OpAMP.Headers = configopaque.MapList{{Name: "X-Tenant", Value: "team-a"}}
	want.OpAMP.TLS.CAFile = "/etc/ca.pem"
	want.OpAMP.Auth = configoptional.Some(configauth.Config{AuthenticatorID: component.MustNewID("bearertokenauth")})
	server := defaultOpAMPServerConfig()
	server.NetAddr.Endpoint = "0.0.0.0:4320"
	server.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: component.MustNewIDWithName("bearertokenauth", "fleet")}})
	want.OpAMPServer = configoptional.Some(server)
	want.ReleaseStartupPages = false
	want.GCHeadroomMiB = 0
	require.Equal(t, want, cfg)
}

// TestValidate has one case per rule, each with the whole message the collector prints: the
// nested sections validate themselves, and the collector prefixes the section's path.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"endpoint", func(c *Config) { c.NetAddr.Endpoint = "" }, "`endpoint` must not be empty"},
		{"check_interval", func(c *Config) { c.CheckInterval = 0 }, "`check_interval` must be positive, found 0s"},
		{"recovery_duration", func(c *Config) { c.RecoveryDuration = -time.Second }, "`recovery_duration` must not be negative, found -1s"},
		{"telemetry_endpoint", func(c *Config) { c.TelemetryEndpoint = "localhost:8888" }, "`telemetry_endpoint` must be an http(s) URL, found \"localhost:8888\""},
		{"queue_utilization", func(c *Config) { c.Thresholds.QueueUtilization = 1.5 }, "thresholds: `thresholds.queue_utilization` must be between 0 and 1 (0 disables it), found 1.5"},
		{"memory_utilization", func(c *Config) { c.Thresholds.MemoryUtilization = -0.1 }, "thresholds: `thresholds.memory_utilization` must be between 0 and 1 (0 disables it), found -0.1"},
		{"refused_ratio", func(c *Config) { c.Thresholds.RefusedRatio = 2 }, "thresholds: `thresholds.refused_ratio` must be between 0 and 1 (0 disables it), found 2"},
		{"send_failure_ratio", func(c *Config) { c.Thresholds.SendFailureRatio = math.NaN() }, "thresholds: `thresholds.send_failure_ratio` must be between 0 and 1 (0 disables it), found NaN"},
		{"send_lag", func(c *Config) { c.Thresholds.SendLag = -time.Second }, "thresholds: `thresholds.send_lag` must not be negative (0 disables it), found -1s"},
		{"report_to", func(c *Config) { c.Fleet.ReportTo = "http://gateway:13133" }, "fleet: `fleet.report_to` was removed with the JSON `POST /fleet` protocol, found \"http://gateway:13133\": report over OpAMP with `opamp.endpoint` (e.g. ws://gateway:4320/v1/opamp) to a collector whose fleet_health has `opamp_server`"},
		{"opamp.endpoint scheme", func(c *Config) { c.OpAMP.Endpoint = "gateway:4320" }, "opamp: `opamp.endpoint` must be a ws, wss, http or https URL, found scheme \"gateway\""},
		{"opamp.endpoint host", func(c *Config) { c.OpAMP.Endpoint = "ws:///v1/opamp" }, "opamp: `opamp.endpoint` must name a host, found \"ws:///v1/opamp\""},
		{"opamp.endpoint user info", func(c *Config) { c.OpAMP.Endpoint = "wss://u:secret@gw:4320/v1/opamp" }, "opamp: `opamp.endpoint` must not carry credentials (user info): use `opamp.headers` or `opamp.auth`"},
		{"opamp_server.endpoint", func(c *Config) {
			sc := defaultOpAMPServerConfig()
			sc.NetAddr.Endpoint = ""
			c.OpAMPServer = configoptional.Some(sc)
		}, "opamp_server: `opamp_server.endpoint` must not be empty"},
		{"stale_after", func(c *Config) { c.Fleet.StaleAfter = 0; c.Fleet.ForgetAfter = 0 }, "fleet: `fleet.stale_after` must be positive, found 0s"},
		{"forget_after", func(c *Config) { c.Fleet.ForgetAfter = time.Second }, "fleet: `fleet.forget_after` must be at least `fleet.stale_after` (30s), found 1s"},
		{"max_members", func(c *Config) { c.Fleet.MaxMembers = 0 }, "fleet: `fleet.max_members` must be positive, found 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tt.mutate(cfg)
			require.EqualError(t, confmap.Validate(cfg), tt.want)
		})
	}
}

// TestValidateReportsEveryError: one bad key does not hide another.
func TestValidateReportsEveryError(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.CheckInterval = 0
	cfg.Thresholds.QueueUtilization = 2
	cfg.Thresholds.RefusedRatio = -1
	cfg.Fleet.MaxMembers = -3
	require.EqualError(t, confmap.Validate(cfg), strings.Join([]string{
		"`check_interval` must be positive, found 0s",
		"thresholds: `thresholds.queue_utilization` must be between 0 and 1 (0 disables it), found 2",
		// The collector prefixes a section's joined errors once.
		"`thresholds.refused_ratio` must be between 0 and 1 (0 disables it), found -1",
		"fleet: `fleet.max_members` must be positive, found -3",
	}, "\n"))
}

// TestRecoveryIsGone: the old key is the converter's business; the component itself refuses it,
// so a config that skips the converter fails loudly instead of silently ignoring it.
func TestRecoveryIsGone(t *testing.T) {
	cfg := createDefaultConfig()
	err := confmap.NewFromStringMap(map[string]any{"recovery": "5s"}).Unmarshal(&cfg)
	require.ErrorContains(t, err, "has invalid keys: recovery")
}
