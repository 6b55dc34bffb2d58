package metadata

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMetadataYAMLAgreesWithCode stands in for mdatagen: the hand-written Go must say what
// metadata.yaml says (type, scope, stability, every self-metric with its description and unit).
func TestMetadataYAMLAgreesWithCode(t *testing.T) {
	cm, err := confmaptest.LoadConf("../../metadata.yaml")
	require.NoError(t, err)
	var md struct {
		Type      string `mapstructure:"type"`
		ScopeName string `mapstructure:"scope_name"`
		Status    struct {
			Class     string              `mapstructure:"class"`
			Stability map[string][]string `mapstructure:"stability"`
		} `mapstructure:"status"`
		Telemetry struct {
			Metrics map[string]struct {
				Description string         `mapstructure:"description"`
				Unit        string         `mapstructure:"unit"`
				Stability   string         `mapstructure:"stability"`
				Enabled     bool           `mapstructure:"enabled"`
				Gauge       map[string]any `mapstructure:"gauge"`
				Sum         map[string]any `mapstructure:"sum"`
			} `mapstructure:"metrics"`
		} `mapstructure:"telemetry"`
	}
	require.NoError(t, cm.Unmarshal(&md, confmap.WithIgnoreUnused()))
	require.Equal(t, Type.String(), md.Type)
	require.Equal(t, ScopeName, md.ScopeName)
	require.Equal(t, "extension", md.Status.Class)
	require.Equal(t, []string{"extension"}, md.Status.Stability[strings.ToLower(ExtensionStability.String())])

	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	tb, err := NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	defer tb.Shutdown()
	// Touch every instrument so the SDK exports it.
	tb.ExtensionFleetHealthChecks.Add(context.Background(), 1)
	tb.ExtensionFleetHealthReportsDropped.Add(context.Background(), 1)
	require.NoError(t, tb.RegisterExtensionFleetHealthReadinessCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(1)
		return nil
	}))
	require.NoError(t, tb.RegisterExtensionFleetHealthMembersCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(2)
		return nil
	}))
	require.NoError(t, tb.RegisterExtensionFleetHealthUtilizationCallback(func(_ context.Context, o metric.Float64Observer) error {
		o.Observe(0.5)
		return nil
	}))

	require.Len(t, md.Telemetry.Metrics, 5)
	for key, want := range md.Telemetry.Metrics {
		got, err := tel.GetMetric("otelcol_" + key)
		require.NoError(t, err, key)
		require.Equal(t, want.Description+" ["+strings.ToUpper(want.Stability[:1])+want.Stability[1:]+"]", got.Description, key)
		require.Equal(t, want.Unit, got.Unit, key)
		require.True(t, want.Enabled, key)
		require.True(t, (want.Gauge != nil) != (want.Sum != nil), key)
	}
}
