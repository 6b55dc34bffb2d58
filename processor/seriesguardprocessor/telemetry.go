package seriesguardprocessor // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"
)

// gaugeSnapshot is the state the asynchronous gauges report.
type gaugeSnapshot struct {
	active, limit, tracked, trackedLimit int64
	tenants                              []guard.TenantUsage
}

// telemetry is the only code that touches instruments; the processor calls its verbs.
type telemetry struct {
	builder    *metadata.TelemetryBuilder
	processor  attribute.KeyValue
	byReason   [guard.NumReasons]metric.MeasurementOption
	idOnly     metric.MeasurementOption
	snapshot   func(*gaugeSnapshot)
	observeMu  sync.Mutex // readers may collect concurrently: scratch and tenantOpts are shared
	scratch    gaugeSnapshot
	tenantOpts map[string]metric.MeasurementOption
}

func newTelemetry(set processor.Settings, snapshot func(*gaugeSnapshot)) (*telemetry, error) {
	builder, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	t := &telemetry{
		builder:    builder,
		processor:  attribute.String("processor", set.ID.String()),
		snapshot:   snapshot,
		tenantOpts: map[string]metric.MeasurementOption{},
	}
	t.idOnly = metric.WithAttributeSet(attribute.NewSet(t.processor))
	for r := guard.ReasonNone + 1; r < guard.NumReasons; r++ {
		t.byReason[r] = metric.WithAttributeSet(attribute.NewSet(t.processor, attribute.String("reason", r.String())))
	}
	if snapshot != nil {
		if err := builder.RegisterGaugesCallback(t.observe); err != nil {
			builder.Shutdown()
			return nil, err
		}
	}
	return t, nil
}

// record adds what a batch refused and folded.
func (t *telemetry) record(ctx context.Context, c *walk.Counts) {
	for r := guard.ReasonNone + 1; r < guard.NumReasons; r++ {
		if c.RefusedPoints[r] > 0 {
			t.refused(ctx, r, c.RefusedPoints[r], c.RefusedSamples[r], c.RefusedSeries[r])
		}
		if c.FoldedPoints[r] > 0 || c.FoldedSeries[r] > 0 {
			t.folded(ctx, r, c.FoldedPoints[r], c.FoldedSeries[r])
		}
	}
}

// refused counts data points removed from the pipeline, the samples they stood for and the new
// series among them.
func (t *telemetry) refused(ctx context.Context, r guard.Reason, points, samples, series int64) {
	opt := t.byReason[r]
	t.builder.ProcessorSeriesGuardRefusedDataPoints.Add(ctx, points, opt)
	t.builder.ProcessorSeriesGuardRefusedSamples.Add(ctx, samples, opt)
	if series > 0 {
		t.builder.ProcessorSeriesGuardRefusedSeries.Add(ctx, series, opt)
	}
}

// folded counts data points and new series folded into overflow series.
func (t *telemetry) folded(ctx context.Context, r guard.Reason, points, series int64) {
	opt := t.byReason[r]
	t.builder.ProcessorSeriesGuardFoldedDataPoints.Add(ctx, points, opt)
	if series > 0 {
		t.builder.ProcessorSeriesGuardFoldedSeries.Add(ctx, series, opt)
	}
}

// observe reports the state gauges from one consistent snapshot.
func (t *telemetry) observe(_ context.Context, o metric.Observer) error {
	t.observeMu.Lock()
	defer t.observeMu.Unlock()
	s := &t.scratch
	s.tenants = s.tenants[:0]
	t.snapshot(s)
	b := t.builder
	o.ObserveInt64(b.ProcessorSeriesGuardActiveSeries, s.active, t.idOnly)
	o.ObserveInt64(b.ProcessorSeriesGuardSeriesLimit, s.limit, t.idOnly)
	o.ObserveInt64(b.ProcessorSeriesGuardTrackedSeries, s.tracked, t.idOnly)
	o.ObserveInt64(b.ProcessorSeriesGuardTrackedSeriesLimit, s.trackedLimit, t.idOnly)
	for _, u := range s.tenants {
		opt, ok := t.tenantOpts[u.Tenant]
		if !ok {
			if len(t.tenantOpts) > 10_000 {
				clear(t.tenantOpts)
			}
			opt = metric.WithAttributeSet(attribute.NewSet(t.processor, attribute.String("tenant", u.Tenant)))
			t.tenantOpts[u.Tenant] = opt
		}
		o.ObserveInt64(b.ProcessorSeriesGuardTenantActiveSeries, u.Active, opt)
		o.ObserveInt64(b.ProcessorSeriesGuardTenantSeriesLimit, u.Limit, opt)
	}
	return nil
}

func (t *telemetry) shutdown() { t.builder.Shutdown() }
