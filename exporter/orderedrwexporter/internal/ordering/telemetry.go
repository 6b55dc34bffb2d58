package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"context"
	"errors"
	"sync"
	"time"

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

// gauges are what the asynchronous instruments read when the telemetry is collected.
type gauges struct {
	heldSamples, heldSeries, queueSize, queueCapacity func() int64
	sendLag                                           func() time.Duration
	// walEntries and walLag are set only with a WAL.
	walEntries, walLag func() int64
}

func (t *telemetry) registerGauges(g gauges) error {
	observe := func(read func() int64) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(read(), t.common)
			return nil
		}
	}
	var walErr error
	if g.walEntries != nil {
		walErr = errors.Join(
			t.builder.RegisterExporterOrderedRwWalEntriesCallback(observe(g.walEntries)),
			t.builder.RegisterExporterOrderedRwWalLagCallback(observe(g.walLag)),
		)
	}
	return errors.Join(walErr,
		t.builder.RegisterExporterOrderedRwHeldSamplesCallback(observe(g.heldSamples)),
		t.builder.RegisterExporterOrderedRwHeldSeriesCallback(observe(g.heldSeries)),
		t.builder.RegisterExporterOrderedRwQueueSizeCallback(observe(g.queueSize)),
		t.builder.RegisterExporterOrderedRwQueueCapacityCallback(observe(g.queueCapacity)),
		t.builder.RegisterExporterOrderedRwSendLagCallback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(g.sendLag().Seconds(), t.common)
			return nil
		}),
	)
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

func (t *telemetry) walWritten(bytes int) {
	t.builder.ExporterOrderedRwWalWrittenEntries.Add(context.Background(), 1, t.common)
	t.builder.ExporterOrderedRwWalWrittenBytes.Add(context.Background(), int64(bytes), t.common)
}

func (t *telemetry) walWriteFailed() {
	t.builder.ExporterOrderedRwWalWriteFailures.Add(context.Background(), 1, t.common)
}

func (t *telemetry) walReadFailed() {
	t.builder.ExporterOrderedRwWalReadFailures.Add(context.Background(), 1, t.common)
}

func (t *telemetry) walReplayed(samples int) {
	if samples > 0 {
		t.builder.ExporterOrderedRwWalReplayedSamples.Add(context.Background(), int64(samples), t.common)
	}
}

func (t *telemetry) walTruncated(entries uint64) {
	if entries > 0 {
		t.builder.ExporterOrderedRwWalTruncatedEntries.Add(context.Background(), int64(entries), t.common)
	}
}

func (t *telemetry) shutdown() { t.builder.Shutdown() }
