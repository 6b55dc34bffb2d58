// Hand-written in the shape mdatagen generates (mdatagen is not served here); metadata_test.go
// keeps it in agreement with metadata.yaml.

package metadata // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
)

func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter                                metric.Meter
	mu                                   sync.Mutex
	registrations                        []metric.Registration
	ExporterOrderedRwBufferedBytes       metric.Int64ObservableGauge
	ExporterOrderedRwDroppedSamples      metric.Int64Counter
	ExporterOrderedRwHeldSamples         metric.Int64ObservableGauge
	ExporterOrderedRwHeldSeries          metric.Int64ObservableGauge
	ExporterOrderedRwTrackedSeries       metric.Int64ObservableGauge
	ExporterOrderedRwHoldLatency         metric.Int64Histogram
	ExporterOrderedRwQueueCapacity       metric.Int64ObservableGauge
	ExporterOrderedRwQueueSize           metric.Int64ObservableGauge
	ExporterOrderedRwRefusedSamples      metric.Int64Counter
	ExporterOrderedRwReleasedSamples     metric.Int64Counter
	ExporterOrderedRwRequestSplits       metric.Int64Counter
	ExporterOrderedRwSendLag             metric.Float64ObservableGauge
	ExporterOrderedRwShards              metric.Int64ObservableGauge
	ExporterOrderedRwShardsDesired       metric.Float64ObservableGauge
	ExporterOrderedRwSentSamples         metric.Int64Counter
	ExporterOrderedRwWalEntries          metric.Int64ObservableGauge
	ExporterOrderedRwWalLag              metric.Int64ObservableGauge
	ExporterOrderedRwWalReadFailures     metric.Int64Counter
	ExporterOrderedRwWalReplayedSamples  metric.Int64Counter
	ExporterOrderedRwWalTruncatedEntries metric.Int64Counter
	ExporterOrderedRwWalWriteFailures    metric.Int64Counter
	ExporterOrderedRwWalWrittenBytes     metric.Int64Counter
	ExporterOrderedRwWalWrittenEntries   metric.Int64Counter
}

// RegisterExporterOrderedRwWalEntriesCallback sets callback for observable ExporterOrderedRwWalEntries metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwWalEntriesCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwWalEntries, cb)
}

// RegisterExporterOrderedRwWalLagCallback sets callback for observable ExporterOrderedRwWalLag metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwWalLagCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwWalLag, cb)
}

// RegisterExporterOrderedRwBufferedBytesCallback sets callback for observable ExporterOrderedRwBufferedBytes metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwBufferedBytesCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwBufferedBytes, cb)
}

// RegisterExporterOrderedRwHeldSamplesCallback sets callback for observable ExporterOrderedRwHeldSamples metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwHeldSamplesCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwHeldSamples, cb)
}

// RegisterExporterOrderedRwHeldSeriesCallback sets callback for observable ExporterOrderedRwHeldSeries metric.
//
// Deprecated: the metric is a deprecated name of ExporterOrderedRwTrackedSeries, kept one release.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwHeldSeriesCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwHeldSeries, cb)
}

// RegisterExporterOrderedRwTrackedSeriesCallback sets callback for observable ExporterOrderedRwTrackedSeries metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwTrackedSeriesCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwTrackedSeries, cb)
}

// RegisterExporterOrderedRwQueueCapacityCallback sets callback for observable ExporterOrderedRwQueueCapacity metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwQueueCapacityCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwQueueCapacity, cb)
}

// RegisterExporterOrderedRwQueueSizeCallback sets callback for observable ExporterOrderedRwQueueSize metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwQueueSizeCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwQueueSize, cb)
}

// RegisterExporterOrderedRwSendLagCallback sets callback for observable ExporterOrderedRwSendLag metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwSendLagCallback(cb metric.Float64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerFloat64{inst: builder.ExporterOrderedRwSendLag, obs: o})
		return nil
	}, builder.ExporterOrderedRwSendLag)
	return builder.keep(reg, err)
}

// RegisterExporterOrderedRwShardsCallback sets callback for observable ExporterOrderedRwShards metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwShardsCallback(cb metric.Int64Callback) error {
	return builder.register(builder.ExporterOrderedRwShards, cb)
}

// RegisterExporterOrderedRwShardsDesiredCallback sets callback for observable ExporterOrderedRwShardsDesired metric.
func (builder *TelemetryBuilder) RegisterExporterOrderedRwShardsDesiredCallback(cb metric.Float64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerFloat64{inst: builder.ExporterOrderedRwShardsDesired, obs: o})
		return nil
	}, builder.ExporterOrderedRwShardsDesired)
	return builder.keep(reg, err)
}

func (builder *TelemetryBuilder) register(inst metric.Int64Observable, cb metric.Int64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		cb(ctx, &observerInt64{inst: inst, obs: o})
		return nil
	}, inst)
	return builder.keep(reg, err)
}

func (builder *TelemetryBuilder) keep(reg metric.Registration, err error) error {
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
	builder.registrations = nil
}

// NewTelemetryBuilder provides a struct with methods to update all internal telemetry
// for a component
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{}
	builder.meter = Meter(settings)
	var err, errs error
	builder.ExporterOrderedRwBufferedBytes, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_buffered_bytes",
		metric.WithDescription("Estimated bytes of the samples queued on the shards and held back, which ordering.max_buffered_bytes bounds. [Alpha]"),
		metric.WithUnit("By"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwDroppedSamples, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_dropped_samples",
		metric.WithDescription("Samples the exporter did not deliver, by reason. [Alpha]"),
		metric.WithUnit("{sample}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwHeldSamples, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_held_samples",
		metric.WithDescription("Samples held back, waiting for their release time. [Alpha]"),
		metric.WithUnit("{sample}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwHeldSeries, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_held_series",
		metric.WithDescription("Deprecated name of otelcol_exporter_ordered_rw_tracked_series, with the same value (it never counted held series); removed in the next release. [Deprecated]"),
		metric.WithUnit("{series}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwTrackedSeries, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_tracked_series",
		metric.WithDescription("Series whose last sent timestamp is tracked to keep them in order. [Alpha]"),
		metric.WithUnit("{series}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwHoldLatency, err = builder.meter.Int64Histogram(
		"otelcol_exporter_ordered_rw_hold_latency",
		metric.WithDescription("Time a sample spent held back, from arrival to release, recorded for one released sample in 256. [Alpha]"),
		metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries([]float64{0, 10, 50, 100, 250, 500, 1000, 2000, 3000, 5000, 7500, 10000, 20000, 30000, 60000}...),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwQueueCapacity, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_queue_capacity",
		metric.WithDescription("Batches the shard queues may hold before pushes block. [Alpha]"),
		metric.WithUnit("{batch}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwQueueSize, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_queue_size",
		metric.WithDescription("Batches queued on the shards, waiting to be sent. [Alpha]"),
		metric.WithUnit("{batch}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwRefusedSamples, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_refused_samples",
		metric.WithDescription("Samples of pushes refused with a retryable error, so that the sender retries them later, by reason (memory_budget). [Alpha]"),
		metric.WithUnit("{sample}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwReleasedSamples, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_released_samples",
		metric.WithDescription("Samples released for sending, by reason (on_time, late, early, shutdown). [Alpha]"),
		metric.WithUnit("{sample}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwRequestSplits, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_request_splits",
		metric.WithDescription("Rejected requests split in halves to isolate the rejected samples. [Alpha]"),
		metric.WithUnit("{request}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwSendLag, err = builder.meter.Float64ObservableGauge(
		"otelcol_exporter_ordered_rw_send_lag",
		metric.WithDescription("Time since the oldest sample that is due and not yet delivered became due; 0 when none waits. [Alpha]"),
		metric.WithUnit("s"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwShards, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_shards",
		metric.WithDescription("Series shards running, each with one request in flight at most (Prometheus' prometheus_remote_storage_shards). [Alpha]"),
		metric.WithUnit("{shard}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwShardsDesired, err = builder.meter.Float64ObservableGauge(
		"otelcol_exporter_ordered_rw_shards_desired",
		metric.WithDescription("Shards the load asked for at the last reshard check, before rounding and the min_shards/max_shards bounds (Prometheus' prometheus_remote_storage_shards_desired). [Alpha]"),
		metric.WithUnit("{shard}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwSentSamples, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_sent_samples",
		metric.WithDescription("Samples accepted by the remote-write backend. [Alpha]"),
		metric.WithUnit("{sample}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwWalEntries, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_wal_entries",
		metric.WithDescription("Entries in the write-ahead log, not truncated yet. [Alpha]"),
		metric.WithUnit("{entry}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwWalLag, err = builder.meter.Int64ObservableGauge(
		"otelcol_exporter_ordered_rw_wal_lag",
		metric.WithDescription("Entries of the write-ahead log holding samples not yet delivered, sampled every wal.lag_record_frequency. [Alpha]"),
		metric.WithUnit("{entry}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwWalReadFailures, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_wal_read_failures",
		metric.WithDescription("Entries of the write-ahead log that could not be read at replay; their samples are lost. [Alpha]"),
		metric.WithUnit("{entry}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwWalReplayedSamples, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_wal_replayed_samples",
		metric.WithDescription("Samples read from the write-ahead log at start and pushed again. [Alpha]"),
		metric.WithUnit("{sample}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwWalTruncatedEntries, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_wal_truncated_entries",
		metric.WithDescription("Entries removed from the write-ahead log once all their samples were delivered or counted dropped. [Alpha]"),
		metric.WithUnit("{entry}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwWalWriteFailures, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_wal_write_failures",
		metric.WithDescription("Pushes refused because they could not be written to the write-ahead log. [Alpha]"),
		metric.WithUnit("{entry}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwWalWrittenBytes, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_wal_written_bytes",
		metric.WithDescription("Bytes written to the write-ahead log (snappy-compressed requests). [Alpha]"),
		metric.WithUnit("By"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterOrderedRwWalWrittenEntries, err = builder.meter.Int64Counter(
		"otelcol_exporter_ordered_rw_wal_written_entries",
		metric.WithDescription("Entries written to the write-ahead log, one per push. [Alpha]"),
		metric.WithUnit("{entry}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
