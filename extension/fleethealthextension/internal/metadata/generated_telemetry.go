package metadata

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"

	"go.opentelemetry.io/collector/component"
)

func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter                              metric.Meter
	mu                                 sync.Mutex
	registrations                      []metric.Registration
	ExtensionFleetHealthChecks         metric.Int64Counter
	ExtensionFleetHealthMembers        metric.Int64ObservableGauge
	ExtensionFleetHealthReadiness      metric.Int64ObservableGauge
	ExtensionFleetHealthReportsDropped metric.Int64Counter
	ExtensionFleetHealthUtilization    metric.Float64ObservableGauge
}

// RegisterExtensionFleetHealthMembersCallback sets callback for observable ExtensionFleetHealthMembers metric.
func (builder *TelemetryBuilder) RegisterExtensionFleetHealthMembersCallback(cb metric.Int64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerInt64{inst: builder.ExtensionFleetHealthMembers, obs: o})
		return nil
	}, builder.ExtensionFleetHealthMembers)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

// RegisterExtensionFleetHealthReadinessCallback sets callback for observable ExtensionFleetHealthReadiness metric.
func (builder *TelemetryBuilder) RegisterExtensionFleetHealthReadinessCallback(cb metric.Int64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerInt64{inst: builder.ExtensionFleetHealthReadiness, obs: o})
		return nil
	}, builder.ExtensionFleetHealthReadiness)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

// RegisterExtensionFleetHealthUtilizationCallback sets callback for observable ExtensionFleetHealthUtilization metric.
func (builder *TelemetryBuilder) RegisterExtensionFleetHealthUtilizationCallback(cb metric.Float64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerFloat64{inst: builder.ExtensionFleetHealthUtilization, obs: o})
		return nil
	}, builder.ExtensionFleetHealthUtilization)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

type observerInt64 struct {
	embedded.Int64Observer
	inst metric.Int64Observable
	obs  metric.Observer
}

func (oi *observerInt64) Observe(value int64, opts ...metric.ObserveOption) {
	oi.obs.ObserveInt64(oi.inst, value, opts...)
}

type observerFloat64 struct {
	embedded.Float64Observer
	inst metric.Float64Observable
	obs  metric.Observer
}

func (of *observerFloat64) Observe(value float64, opts ...metric.ObserveOption) {
	of.obs.ObserveFloat64(of.inst, value, opts...)
}

// Shutdown unregister all registered callbacks for async instruments.
func (builder *TelemetryBuilder) Shutdown() {
	builder.mu.Lock()
	defer builder.mu.Unlock()
	for _, reg := range builder.registrations {
		reg.Unregister()
	}
}

// NewTelemetryBuilder provides a struct with methods to update all internal telemetry
// for a component
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{}
	builder.meter = Meter(settings)
	var err, errs error
	builder.ExtensionFleetHealthChecks, err = builder.meter.Int64Counter(
		"otelcol_extension_fleet_health_checks",
		metric.WithDescription("Checks of the collector's own telemetry, by outcome (ok, scrape_failed). [Alpha]"),
		metric.WithUnit("{check}"),
	)
	errs = errors.Join(errs, err)
	builder.ExtensionFleetHealthMembers, err = builder.meter.Int64ObservableGauge(
		"otelcol_extension_fleet_health_members",
		metric.WithDescription("Fleet members known to this collector, by state (ready, not_ready, missing). [Alpha]"),
		metric.WithUnit("{member}"),
	)
	errs = errors.Join(errs, err)
	builder.ExtensionFleetHealthReadiness, err = builder.meter.Int64ObservableGauge(
		"otelcol_extension_fleet_health_readiness",
		metric.WithDescription("1 while /readyz answers 200, 0 while it answers 503. [Alpha]"),
		metric.WithUnit("1"),
	)
	errs = errors.Join(errs, err)
	builder.ExtensionFleetHealthReportsDropped, err = builder.meter.Int64Counter(
		"otelcol_extension_fleet_health_reports_dropped",
		metric.WithDescription("OpAMP messages or connections refused, by reason (malformed, member_limit, not_owner, connection_limit). [Alpha]"),
		metric.WithUnit("{report}"),
	)
	errs = errors.Join(errs, err)
	builder.ExtensionFleetHealthUtilization, err = builder.meter.Float64ObservableGauge(
		"otelcol_extension_fleet_health_utilization",
		metric.WithDescription("Worst value of each readiness signal at the last check (attribute signal), as a share of its limit (for send_lag, of its threshold); scale on it. [Alpha]"),
		metric.WithUnit("1"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
