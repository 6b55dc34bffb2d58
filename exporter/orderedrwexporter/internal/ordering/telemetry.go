package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
)

// telemetry records the self-metrics; the engine calls its verbs and never touches instruments.
type telemetry struct {
	builder *metadata.TelemetryBuilder
	id      attribute.KeyValue
	common  metric.MeasurementOption

	mu       sync.Mutex
	byReason map[string]metric.MeasurementOption
}

func newTelemetry(set component.TelemetrySettings, exporterID string) (*telemetry, error) {
	builder, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	id := attribute.String("exporter", exporterID)
	return &telemetry{
		builder:  builder,
		id:       id,
		common:   metric.WithAttributeSet(attribute.NewSet(id)),
		byReason: map[string]metric.MeasurementOption{},
	}, nil
}

// withReason caches the attribute set of each reason: they are few and used on hot paths.
func (t *telemetry) withReason(reason string) metric.MeasurementOption {
	t.mu.Lock()
	defer t.mu.Unlock()
	opt, ok := t.byReason[reason]
	if !ok {
		opt = metric.WithAttributeSet(attribute.NewSet(t.id, attribute.String("reason", reason)))
		t.byReason[reason] = opt
	}
	return opt
}

func (t *telemetry) registerGauges(heldSamples, heldSeries func() int64) error {
	if err := t.builder.RegisterExporterOrderedRwHeldSamplesCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(heldSamples(), t.common)
		return nil
	}); err != nil {
		return err
	}
	return t.builder.RegisterExporterOrderedRwHeldSeriesCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(heldSeries(), t.common)
		return nil
	})
}

func (t *telemetry) dropped(n int, reason string) {
	if n > 0 {
		t.builder.ExporterOrderedRwDroppedSamples.Add(context.Background(), int64(n), t.withReason(reason))
	}
}

func (t *telemetry) released(n int, reason string) {
	if n > 0 {
		t.builder.ExporterOrderedRwReleasedSamples.Add(context.Background(), int64(n), t.withReason(reason))
	}
}

func (t *telemetry) sent(n int) {
	if n > 0 {
		t.builder.ExporterOrderedRwSentSamples.Add(context.Background(), int64(n), t.common)
	}
}

func (t *telemetry) split() {
	t.builder.ExporterOrderedRwRequestSplits.Add(context.Background(), 1, t.common)
}

func (t *telemetry) held(latencyMillis int64) {
	t.builder.ExporterOrderedRwHoldLatency.Record(context.Background(), latencyMillis, t.common)
}

func (t *telemetry) shutdown() { t.builder.Shutdown() }
