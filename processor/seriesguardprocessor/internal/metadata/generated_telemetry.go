// Written by hand in the shape mdatagen generates; metadata_test.go checks the names against
// metadata.yaml.

package metadata // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/metadata"

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// Meter returns the meter of this component's scope.
func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder holds every instrument of the component as defined in metadata.yaml.
type TelemetryBuilder struct {
	meter         metric.Meter
	mu            sync.Mutex
	registrations []metric.Registration

	ProcessorSeriesGuardRefusedDataPoints  metric.Int64Counter
	ProcessorSeriesGuardRefusedSamples     metric.Int64Counter
	ProcessorSeriesGuardRefusedSeries      metric.Int64Counter
	ProcessorSeriesGuardFoldedDataPoints   metric.Int64Counter
	ProcessorSeriesGuardFoldedSeries       metric.Int64Counter
	ProcessorSeriesGuardActiveSeries       metric.Int64ObservableGauge
	ProcessorSeriesGuardSeriesLimit        metric.Int64ObservableGauge
	ProcessorSeriesGuardTenantActiveSeries metric.Int64ObservableGauge
	ProcessorSeriesGuardTenantSeriesLimit  metric.Int64ObservableGauge
	ProcessorSeriesGuardTrackedSeries      metric.Int64ObservableGauge
	ProcessorSeriesGuardTrackedSeriesLimit metric.Int64ObservableGauge
}

// Shutdown unregisters every callback registered for the asynchronous instruments.
func (builder *TelemetryBuilder) Shutdown() {
	builder.mu.Lock()
	defer builder.mu.Unlock()
	for _, reg := range builder.registrations {
		_ = reg.Unregister()
	}
	builder.registrations = nil
}

// RegisterGaugesCallback registers one callback observing every asynchronous gauge, so that a
// collection sees one consistent snapshot of the state.
func (builder *TelemetryBuilder) RegisterGaugesCallback(cb func(context.Context, metric.Observer) error) error {
	reg, err := builder.meter.RegisterCallback(cb,
		builder.ProcessorSeriesGuardActiveSeries,
		builder.ProcessorSeriesGuardSeriesLimit,
		builder.ProcessorSeriesGuardTenantActiveSeries,
		builder.ProcessorSeriesGuardTenantSeriesLimit,
		builder.ProcessorSeriesGuardTrackedSeries,
		builder.ProcessorSeriesGuardTrackedSeriesLimit,
	)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

// NewTelemetryBuilder creates every instrument of the component.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{meter: Meter(settings)}
	var err, errs error
	counter := func(name, desc, unit string) metric.Int64Counter {
		var c metric.Int64Counter
		c, err = builder.meter.Int64Counter(name, metric.WithDescription(desc+" [Alpha]"), metric.WithUnit(unit))
		errs = errors.Join(errs, err)
		return c
	}
	gauge := func(name, desc, unit string) metric.Int64ObservableGauge {
		var g metric.Int64ObservableGauge
		g, err = builder.meter.Int64ObservableGauge(name, metric.WithDescription(desc+" [Alpha]"), metric.WithUnit(unit))
		errs = errors.Join(errs, err)
		return g
	}
	builder.ProcessorSeriesGuardRefusedDataPoints = counter("otelcol_processor_series_guard_refused_data_points",
		"Data points removed from the pipeline because their series broke a label or series limit, by reason.", "{datapoint}")
	builder.ProcessorSeriesGuardRefusedSamples = counter("otelcol_processor_series_guard_refused_samples",
		"Prometheus samples the refused data points would have produced (one per number point, one per bucket plus _sum and _count for histograms, one per quantile plus _sum and _count for summaries), by reason.", "{sample}")
	builder.ProcessorSeriesGuardRefusedSeries = counter("otelcol_processor_series_guard_refused_series",
		"New Prometheus series refused, by reason; a series refused again while it is remembered (see README) is not counted twice.", "{series}")
	builder.ProcessorSeriesGuardFoldedDataPoints = counter("otelcol_processor_series_guard_folded_data_points",
		"Data points folded into the overflow series of their metric (action overflow), by reason.", "{datapoint}")
	builder.ProcessorSeriesGuardFoldedSeries = counter("otelcol_processor_series_guard_folded_series",
		"New Prometheus series folded into an overflow series (action overflow), by reason.", "{series}")
	builder.ProcessorSeriesGuardActiveSeries = gauge("otelcol_processor_series_guard_active_series",
		"Admitted Prometheus series seen within series_limits.idle_timeout, in total.", "{series}")
	builder.ProcessorSeriesGuardSeriesLimit = gauge("otelcol_processor_series_guard_series_limit",
		"Configured limit of active series in total (0 = no limit).", "{series}")
	builder.ProcessorSeriesGuardTenantActiveSeries = gauge("otelcol_processor_series_guard_tenant_active_series",
		"Admitted Prometheus series seen within series_limits.idle_timeout, per tenant (attribute tenant).", "{series}")
	builder.ProcessorSeriesGuardTenantSeriesLimit = gauge("otelcol_processor_series_guard_tenant_series_limit",
		"Configured limit of active series per tenant (attribute tenant), overrides applied (0 = no limit).", "{series}")
	builder.ProcessorSeriesGuardTrackedSeries = gauge("otelcol_processor_series_guard_tracked_series",
		"Series held in the processor's state (admitted plus folded), the figure max_tracked_series bounds.", "{series}")
	builder.ProcessorSeriesGuardTrackedSeriesLimit = gauge("otelcol_processor_series_guard_tracked_series_limit",
		"The effective max_tracked_series.", "{series}")
	return &builder, errs
}
