package seriesguardprocessor

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/metric"
	"sigs.k8s.io/yaml"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"
)

type metadataFile struct {
	Type   string `json:"type"`
	Status struct {
		Class     string              `json:"class"`
		Stability map[string][]string `json:"stability"`
	} `json:"status"`
	Telemetry struct {
		Metrics map[string]struct {
			Description string `json:"description"`
			Unit        string `json:"unit"`
			Sum         *struct {
				Monotonic bool `json:"monotonic"`
			} `json:"sum"`
			Gauge *struct {
				Async bool `json:"async"`
			} `json:"gauge"`
		} `json:"metrics"`
	} `json:"telemetry"`
}

// TestMetadataMatchesCode checks the hand-written internal/metadata against metadata.yaml, as
// mdatagen would guarantee by generating one from the other.
func TestMetadataMatchesCode(t *testing.T) {
	data, err := os.ReadFile("metadata.yaml")
	require.NoError(t, err)
	var md metadataFile
	require.NoError(t, yaml.Unmarshal(data, &md))
	require.Equal(t, md.Type, metadata.Type.String())
	require.Equal(t, "processor", md.Status.Class)
	require.Equal(t, map[string][]string{metadata.MetricsStability.String(): {"metrics"}},
		map[string][]string{"Alpha": md.Status.Stability["alpha"]})

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := processor.Settings{ID: component.NewID(metadata.Type), TelemetrySettings: tel.NewTelemetrySettings()}
	tt, err := newTelemetry(set, func(s *gaugeSnapshot) { s.tenants = append(s.tenants, guard.TenantUsage{Tenant: "t"}) })
	require.NoError(t, err)
	defer tt.shutdown()
	// Record every counter once so that each instrument shows up.
	b := tt.builder
	for _, c := range []metric.Int64Counter{b.ProcessorSeriesGuardRefusedDataPoints, b.ProcessorSeriesGuardRefusedSamples,
		b.ProcessorSeriesGuardRefusedSeries, b.ProcessorSeriesGuardFoldedDataPoints, b.ProcessorSeriesGuardFoldedSeries} {
		c.Add(context.Background(), 1)
	}
	require.Len(t, md.Telemetry.Metrics, 11)
	for name, want := range md.Telemetry.Metrics {
		got, err := tel.GetMetric("otelcol_" + name)
		require.NoError(t, err, name)
		require.Equal(t, want.Description+" [Alpha]", got.Description, name)
		require.Equal(t, want.Unit, got.Unit, name)
		require.True(t, (want.Sum != nil) != (want.Gauge != nil), name)
	}
}
