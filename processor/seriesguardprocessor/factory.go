package seriesguardprocessor // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"
)

// Defaults. The label limits are Amazon Managed Service for Prometheus quotas; the series caps
// are off until an operator sets them.
const (
	DefaultMaxLabelsPerSeries  = 70
	DefaultMaxLabelNameLength  = 1024
	DefaultMaxLabelValueLength = 2048
	DefaultLabelAction         = LabelActionDropSeries
	DefaultIdleTimeout         = time.Hour
	DefaultSeriesAction        = SeriesActionDropSeries
	// DefaultAddMetricSuffixes is the remote-write exporter's default.
	DefaultAddMetricSuffixes = true
)

// The processor rewrites data (drops points, truncates values, appends overflow series).
var processorCapabilities = consumer.Capabilities{MutatesData: true}

// NewFactory returns the factory of the series_guard processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		LabelLimits: LabelLimitsConfig{
			MaxLabelsPerSeries:  DefaultMaxLabelsPerSeries,
			MaxLabelNameLength:  DefaultMaxLabelNameLength,
			MaxLabelValueLength: DefaultMaxLabelValueLength,
			Action:              DefaultLabelAction,
		},
		SeriesLimits: SeriesLimitsConfig{
			IdleTimeout: DefaultIdleTimeout,
			Action:      DefaultSeriesAction,
		},
		Translation: TranslationConfig{
			AddMetricSuffixes: DefaultAddMetricSuffixes,
		},
	}
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	return newMetricsProcessor(ctx, set, cfg.(*Config), next, time.Now)
}

// newMetricsProcessor takes the clock, which tests replace.
func newMetricsProcessor(ctx context.Context, set processor.Settings, cfg *Config, next consumer.Metrics, now func() time.Time) (processor.Metrics, error) {
	p, err := newSeriesGuard(set, cfg, now)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.processMetrics,
		processorhelper.WithCapabilities(processorCapabilities),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
