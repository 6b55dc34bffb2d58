package metadata

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"
)

func isFloat(data metricdata.Aggregation) bool {
	_, ok := data.(metricdata.Gauge[float64])
	return ok
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type metadataFile struct {
	Type   string `yaml:"type"`
	Status struct {
		Class     string              `yaml:"class"`
		Stability map[string][]string `yaml:"stability"`
	} `yaml:"status"`
	Telemetry struct {
		Metrics map[string]struct {
			Description string         `yaml:"description"`
			Unit        string         `yaml:"unit"`
			Stability   string         `yaml:"stability"`
			Gauge       map[string]any `yaml:"gauge"`
			Sum         map[string]any `yaml:"sum"`
			Histogram   map[string]any `yaml:"histogram"`
		} `yaml:"metrics"`
	} `yaml:"telemetry"`
}

// TestMetadataAgreesWithCode keeps the hand-written code and metadata.yaml in step.
func TestMetadataAgreesWithCode(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "metadata.yaml"))
	require.NoError(t, err)
	var md metadataFile
	require.NoError(t, yaml.Unmarshal(raw, &md))
	require.Equal(t, Type.String(), md.Type)
	require.Equal(t, "exporter", md.Status.Class)
	require.Equal(t, []string{"metrics"}, md.Status.Stability[strings.ToLower(MetricsStability.String())])

	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	tb, err := NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	defer tb.Shutdown()
	require.NoError(t, tb.RegisterExporterOrderedRwBufferedBytesCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwHeldSamplesCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwHeldSeriesCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil })) //nolint:staticcheck // the deprecated name is still emitted
	require.NoError(t, tb.RegisterExporterOrderedRwTrackedSeriesCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwQueueSizeCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwQueueCapacityCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwSendLagCallback(func(_ context.Context, o metric.Float64Observer) error { o.Observe(1.5); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwShardsCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwShardsDesiredCallback(func(_ context.Context, o metric.Float64Observer) error { o.Observe(1.5); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwWalEntriesCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }))
	require.NoError(t, tb.RegisterExporterOrderedRwWalLagCallback(func(_ context.Context, o metric.Int64Observer) error { o.Observe(1); return nil }))
	ctx := context.Background()
	tb.ExporterOrderedRwDroppedSamples.Add(ctx, 1)
	tb.ExporterOrderedRwReleasedSamples.Add(ctx, 1)
	tb.ExporterOrderedRwRefusedSamples.Add(ctx, 1)
	tb.ExporterOrderedRwSentSamples.Add(ctx, 1)
	tb.ExporterOrderedRwRequestSplits.Add(ctx, 1)
	tb.ExporterOrderedRwHoldLatency.Record(ctx, 1)
	tb.ExporterOrderedRwWalReadFailures.Add(ctx, 1)
	tb.ExporterOrderedRwWalReplayedSamples.Add(ctx, 1)
	tb.ExporterOrderedRwWalTruncatedEntries.Add(ctx, 1)
	tb.ExporterOrderedRwWalWriteFailures.Add(ctx, 1)
	tb.ExporterOrderedRwWalWrittenBytes.Add(ctx, 1)
	tb.ExporterOrderedRwWalWrittenEntries.Add(ctx, 1)

	var names []string
	for name, m := range md.Telemetry.Metrics {
		names = append(names, name)
		got, err := tel.GetMetric("otelcol_" + name)
		require.NoError(t, err, name)
		require.Equal(t, m.Unit, got.Unit, name)
		// As mdatagen does: the stability level, capitalised, closes the description.
		require.Contains(t, []string{"alpha", "deprecated"}, m.Stability, name)
		require.Equal(t, m.Description+" ["+strings.ToUpper(m.Stability[:1])+m.Stability[1:]+"]", got.Description, name)
		switch got.Data.(type) {
		case metricdata.Gauge[int64], metricdata.Gauge[float64]:
			require.NotNil(t, m.Gauge, name)
			require.Equal(t, map[bool]string{true: "double", false: "int"}[isFloat(got.Data)], m.Gauge["value_type"], name)
		case metricdata.Sum[int64]:
			require.NotNil(t, m.Sum, name)
		case metricdata.Histogram[int64]:
			require.NotNil(t, m.Histogram, name)
		default:
			t.Fatalf("%s: unexpected kind %T", name, got.Data)
		}
	}
	sort.Strings(names)
	require.Len(t, names, 23)
}
