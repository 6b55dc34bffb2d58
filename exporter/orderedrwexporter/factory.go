package orderedrwexporter // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter"

import (
	"context"
	"errors"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"
)

const (
	defaultMode           = ModeHoldback
	defaultStampLabel     = "collector_gateway"
	defaultWindow         = 5 * time.Second
	defaultMaxHeldSamples = 1_000_000
	// defaultShutdownTimeout is above defaultWindow, so that held samples leave on schedule, and
	// under the 30 s Kubernetes gives a pod between SIGTERM and SIGKILL.
	defaultShutdownTimeout = 20 * time.Second
	// failureLogInterval is the least time between two logs of failed requests.
	failureLogInterval = 10 * time.Second
)

// NewFactory creates the factory of the ordered_rw exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithMetrics(createMetricsExporter, metadata.MetricsStability),
	)
}

// createDefaultConfig starts from the upstream exporter's defaults, so that an ordered_rw block
// means what the same prometheus_remote_write block means.
func createDefaultConfig() component.Config {
	upstream := prometheusremotewriteexporter.NewFactory().CreateDefaultConfig().(*prometheusremotewriteexporter.Config)
	return &Config{
		Config: *upstream,
		Shards: ShardsConfig{MinShards: defaultMinShards, MaxShards: upstream.RemoteWriteQueue.NumConsumers},
		Ordering: OrderingConfig{
			Mode:             defaultMode,
			IdleTimeout:      defaultIdleTimeout,
			MaxTrackedSeries: defaultMaxTrackedSeries,
			Stamp:            StampConfig{Label: defaultStampLabel},
			Holdback:         HoldbackConfig{Window: defaultWindow, MaxHeldSamples: defaultMaxHeldSamples, MaxFuture: defaultMaxFuture},
			ShutdownTimeout:  defaultShutdownTimeout,
		},
	}
}

func createMetricsExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	oCfg, ok := cfg.(*Config)
	if !ok {
		return nil, errors.New("invalid configuration")
	}
	exp, err := newExporter(oCfg, set)
	if err != nil {
		return nil, err
	}
	// The helper counts as sent what pushMetrics accepted (queued or held); ordered_rw records the
	// standard sent / send_failed / queue metrics itself, when the backend answers.
	helperSet := set
	helperSet.TelemetrySettings = telemetry.HelperSettings(set.TelemetrySettings)
	metricsExporter, err := exporterhelper.NewMetrics(ctx, helperSet, cfg, exp.pushMetrics,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// Attempts are bounded by `timeout` in the sender; a push itself only waits for room.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithStart(exp.start),
		exporterhelper.WithShutdown(exp.shutdown),
	)
	if err != nil {
		return nil, err
	}
	// As upstream: resource_constant_labels, or the deprecated resource_to_telemetry_conversion.
	settings := oCfg.ResourceConstantLabels
	if settings.IsEmpty() && !oCfg.ResourceToTelemetrySettings.IsEmpty() { //nolint:staticcheck // same deprecated key as upstream
		settings = oCfg.ResourceToTelemetrySettings //nolint:staticcheck // same deprecated key as upstream
	}
	return resourcetotelemetry.WrapMetricsExporter(settings, metricsExporter), nil
}
