package telemetry // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// The exporter self-metrics every collector exporter built on exporterhelper emits, with their
// upstream meaning, so that dashboards and alerts made for prometheus_remote_write keep working:
// names, units, descriptions, attributes and instrumentation scope are exporterhelper's
// (v0.165.0, internal/metadata/generated_telemetry.go and internal/queue/exporter_obs_metrics.go;
// TestStandardMetricsMatchExporterhelper in the exporter's package compares them with what
// exporterhelper itself emits).
//
// exporterhelper counts as sent what the push function accepted. ordered_rw accepts a push
// when it is queued or held, long before the backend answers; so the helper is given a meter
// provider without these four instruments (HelperSettings) and ordered_rw records them itself:
// sent when the backend accepted the sample, failed when it will never be delivered.
const (
	helperScope = "go.opentelemetry.io/collector/exporter/exporterhelper"

	sentName          = "otelcol_exporter_sent_metric_points"
	sendFailedName    = "otelcol_exporter_send_failed_metric_points"
	queueSizeName     = "otelcol_exporter_queue_size"
	queueCapacityName = "otelcol_exporter_queue_capacity"

	// The attributes exporterhelper puts on them.
	exporterKey       = "exporter"
	dataTypeKey       = "data_type"
	errorTypeKey      = "error.type" // semconv ErrorTypeKey
	errorPermanentKey = "error.permanent"
	// Values of error.type exporterhelper gives an error that is not a gRPC status: "Shutdown"
	// for a shutdown, "_OTHER" for the rest.
	errorTypeShutdown = "Shutdown"
	errorTypeOther    = "_OTHER"
)

// standard holds the four instruments, made with exporterhelper's scope on the real provider.
type standard struct {
	meter                    metric.Meter
	sent, sendFailed         metric.Int64Counter
	queueSize, queueCapacity metric.Int64ObservableGauge
	exporterAttr, queueAttrs metric.MeasurementOption
	exporterID               attribute.KeyValue
	registration             metric.Registration
}

func newStandard(set component.TelemetrySettings, id attribute.KeyValue) (*standard, error) {
	meter := set.MeterProvider.Meter(helperScope)
	s := &standard{
		meter:        meter,
		exporterID:   id,
		exporterAttr: metric.WithAttributeSet(attribute.NewSet(id)),
		queueAttrs:   metric.WithAttributeSet(attribute.NewSet(id, attribute.String(dataTypeKey, "metrics"))),
	}
	var err error
	if s.sent, err = meter.Int64Counter(sentName,
		metric.WithDescription("Number of metric points successfully sent to destination. [Alpha]"),
		metric.WithUnit("{datapoint}")); err != nil {
		return nil, err
	}
	if s.sendFailed, err = meter.Int64Counter(sendFailedName,
		metric.WithDescription("Number of metric points in failed attempts to send to destination. At detailed telemetry level, includes attributes: error.type (semantic convention), error.permanent. [Alpha]"),
		metric.WithUnit("{datapoint}")); err != nil {
		return nil, err
	}
	if s.queueCapacity, err = meter.Int64ObservableGauge(queueCapacityName,
		metric.WithDescription("Fixed capacity of the retry queue (in batches). [Alpha]"),
		metric.WithUnit("{batch}")); err != nil {
		return nil, err
	}
	if s.queueSize, err = meter.Int64ObservableGauge(queueSizeName,
		metric.WithDescription("Current size of the retry queue (in batches). [Alpha]"),
		metric.WithUnit("{batch}")); err != nil {
		return nil, err
	}
	return s, nil
}

// failedAttrs are the attributes of send_failed for a drop reason: exporterhelper's error.type
// and error.permanent. Only retries running out and shutdowns are transient failures; every
// other reason is the backend's answer for that sample (or the stale filter's), which no retry
// would change.
func (s *standard) failedAttrs(reason string) metric.MeasurementOption {
	errorType, permanent := errorTypeOther, true
	switch reason {
	case ReasonShutdown:
		errorType, permanent = errorTypeShutdown, false
	case ReasonSendFailed, reasonRefused:
		permanent = false
	}
	return metric.WithAttributeSet(attribute.NewSet(s.exporterID,
		attribute.String(errorTypeKey, errorType), attribute.Bool(errorPermanentKey, permanent)))
}

// reasonRefused is not a dropped_samples reason: a refused push was answered with an error, and
// its sender may push it again. It is counted failed, as exporterhelper counts an error returned
// by the push function.
const reasonRefused = "refused"

// register reads the queue gauges when the telemetry is collected, as exporterhelper's queue does.
func (s *standard) register(queueSize, queueCapacity func() int64) (err error) {
	s.registration, err = s.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(s.queueSize, queueSize(), s.queueAttrs)
		o.ObserveInt64(s.queueCapacity, queueCapacity(), s.queueAttrs)
		return nil
	}, s.queueSize, s.queueCapacity)
	return err
}

func (s *standard) shutdown() {
	if s.registration != nil {
		_ = s.registration.Unregister()
	}
}

// HelperSettings returns set with a meter provider that gives exporterhelper no-op instruments
// for the four metrics ordered_rw records itself; every other instrument of the helper (in-flight
// requests, its spans) is the real one.
func HelperSettings(set component.TelemetrySettings) component.TelemetrySettings {
	set.MeterProvider = helperMeterProvider{MeterProvider: set.MeterProvider}
	return set
}

type helperMeterProvider struct{ metric.MeterProvider }

func (p helperMeterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	m := p.MeterProvider.Meter(name, opts...)
	if name != helperScope {
		return m
	}
	return helperMeter{Meter: m}
}

// helperMeter is exporterhelper's meter without the instruments ordered_rw records itself.
type helperMeter struct{ metric.Meter }

func (m helperMeter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	if name == sentName || name == sendFailedName {
		return noop.Int64Counter{}, nil
	}
	return m.Meter.Int64Counter(name, opts...)
}

func (m helperMeter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	if name == queueSizeName || name == queueCapacityName {
		return noop.Int64ObservableGauge{}, nil
	}
	return m.Meter.Int64ObservableGauge(name, opts...)
}
