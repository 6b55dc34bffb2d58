// Package telemetry records ordered_rw's self-metrics and its log of dropped samples. The other
// packages call its verbs (Dropped, Released, Sent, ...) and never touch instruments; the values
// of the `reason` attribute are named here, in one place.
package telemetry // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"

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

// Telemetry records the self-metrics.
type Telemetry struct {
	builder *metadata.TelemetryBuilder
	id      attribute.KeyValue
	common  metric.MeasurementOption
	// commonAdd, commonRecord and stdSent are option slices built once: passed as one variadic
	// option, each call allocated its slice (the methods are an interface's), for every push,
	// request and sample in 16 released.
	commonAdd    []metric.AddOption
	commonRecord []metric.RecordOption
	stdSent      []metric.AddOption

	// std are the standard exporter metrics (standard.go), recorded by the same verbs.
	std *standard

	mu       sync.Mutex
	byReason map[string][]metric.AddOption
	// failedByReason caches the attributes of the standard send_failed by drop reason.
	failedByReason map[string][]metric.AddOption
}

// New builds the instruments; exporterID is the value of their `exporter` attribute.
func New(set component.TelemetrySettings, exporterID string) (*Telemetry, error) {
	builder, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	id := attribute.String(exporterKey, exporterID)
	std, err := newStandard(set, id)
	if err != nil {
		builder.Shutdown()
		return nil, err
	}
	common := metric.WithAttributeSet(attribute.NewSet(id))
	return &Telemetry{
		builder:        builder,
		id:             id,
		common:         common,
		commonAdd:      []metric.AddOption{common},
		commonRecord:   []metric.RecordOption{common},
		stdSent:        []metric.AddOption{std.exporterAttr},
		std:            std,
		byReason:       map[string][]metric.AddOption{},
		failedByReason: map[string][]metric.AddOption{},
	}, nil
}

// withReason caches the attribute set of each reason: they are few and used on hot paths.
func (t *Telemetry) withReason(reason string) []metric.AddOption {
	t.mu.Lock()
	defer t.mu.Unlock()
	opts, ok := t.byReason[reason]
	if !ok {
		opts = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(t.id, attribute.String("reason", reason)))}
		t.byReason[reason] = opts
	}
	return opts
}

// failedWith caches the attribute set of the standard send_failed of each reason.
func (t *Telemetry) failedWith(reason string) []metric.AddOption {
	t.mu.Lock()
	defer t.mu.Unlock()
	opts, ok := t.failedByReason[reason]
	if !ok {
		opts = []metric.AddOption{t.std.failedAttrs(reason)}
		t.failedByReason[reason] = opts
	}
	return opts
}

// Gauges are what the asynchronous instruments read when the telemetry is collected.
type Gauges struct {
	HeldSamples, TrackedSeries, QueueSize, QueueCapacity func() int64
	// BufferedBytes is the estimate the memory budget compares with its bound.
	BufferedBytes func() int64
	SendLag       func() time.Duration
	// WALEntries and WALLag are set only with a WAL.
	WALEntries, WALLag func() int64

	// Shards and DesiredShards are the running and the wanted number of shards.
	Shards        func() int64
	DesiredShards func() float64
}

func (t *Telemetry) RegisterGauges(g Gauges) error {
	observe := func(read func() int64) metric.Int64Callback {
		return func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(read(), t.common)
			return nil
		}
	}
	var walErr error
	if g.WALEntries != nil {
		walErr = errors.Join(
			t.builder.RegisterExporterOrderedRwWalEntriesCallback(observe(g.WALEntries)),
			t.builder.RegisterExporterOrderedRwWalLagCallback(observe(g.WALLag)),
		)
	}
	return errors.Join(walErr,
		// The standard queue gauges: the same batches, with exporterhelper's names and attributes.
		t.std.register(g.QueueSize, g.QueueCapacity),
		t.builder.RegisterExporterOrderedRwHeldSamplesCallback(observe(g.HeldSamples)),
		t.builder.RegisterExporterOrderedRwBufferedBytesCallback(observe(g.BufferedBytes)),
		t.builder.RegisterExporterOrderedRwTrackedSeriesCallback(observe(g.TrackedSeries)),
		// The deprecated name of tracked_series, with the same value, for one release.
		t.builder.RegisterExporterOrderedRwHeldSeriesCallback(observe(g.TrackedSeries)), //nolint:staticcheck // kept one release

		t.builder.RegisterExporterOrderedRwQueueSizeCallback(observe(g.QueueSize)),
		t.builder.RegisterExporterOrderedRwQueueCapacityCallback(observe(g.QueueCapacity)),
		t.builder.RegisterExporterOrderedRwSendLagCallback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(g.SendLag().Seconds(), t.common)
			return nil
		}),
		t.builder.RegisterExporterOrderedRwShardsCallback(observe(g.Shards)),
		t.builder.RegisterExporterOrderedRwShardsDesiredCallback(func(_ context.Context, o metric.Float64Observer) error {
			o.Observe(g.DesiredShards(), t.common)
			return nil
		}),
	)
}

// Dropped counts n samples dropped for reason; they are the standard send_failed too.
func (t *Telemetry) Dropped(n int, reason string) {
	if n > 0 {
		t.builder.ExporterOrderedRwDroppedSamples.Add(context.Background(), int64(n), t.withReason(reason)...)
		t.std.sendFailed.Add(context.Background(), int64(n), t.failedWith(reason)...)
	}
}

// Refused counts n samples of a push answered with an error (not queued): not dropped, since
// the sender got the error, but failed as exporterhelper counts an error of the push function.
func (t *Telemetry) Refused(n int) {
	if n > 0 {
		t.std.sendFailed.Add(context.Background(), int64(n), t.failedWith(reasonRefused)...)
	}
}

// RefusedFor counts n samples of a push refused for reason with a retryable error: in
// refused_samples, and in the standard send_failed as Refused does.
func (t *Telemetry) RefusedFor(n int, reason string) {
	if n > 0 {
		t.builder.ExporterOrderedRwRefusedSamples.Add(context.Background(), int64(n), t.withReason(reason)...)
		t.Refused(n)
	}
}

// Released counts n samples released from hold-back for reason.
func (t *Telemetry) Released(n int, reason string) {
	if n > 0 {
		t.builder.ExporterOrderedRwReleasedSamples.Add(context.Background(), int64(n), t.withReason(reason)...)
	}
}

// Sent counts n samples the backend accepted, in sent_samples and the standard sent.
func (t *Telemetry) Sent(n int) {
	if n > 0 {
		t.builder.ExporterOrderedRwSentSamples.Add(context.Background(), int64(n), t.commonAdd...)
		t.std.sent.Add(context.Background(), int64(n), t.stdSent...)
	}
}

// Split counts one request split in halves after a rejection of its content.
func (t *Telemetry) Split() {
	t.builder.ExporterOrderedRwRequestSplits.Add(context.Background(), 1, t.commonAdd...)
}

// Held records how long one sample was held.
func (t *Telemetry) Held(latencyMillis int64) {
	t.builder.ExporterOrderedRwHoldLatency.Record(context.Background(), latencyMillis, t.commonRecord...)
}

// WALWritten counts one entry of the given size written to the write-ahead log.
func (t *Telemetry) WALWritten(bytes int) {
	t.builder.ExporterOrderedRwWalWrittenEntries.Add(context.Background(), 1, t.commonAdd...)
	t.builder.ExporterOrderedRwWalWrittenBytes.Add(context.Background(), int64(bytes), t.commonAdd...)
}

// WALWriteFailed counts one batch refused because the log could not take it.
func (t *Telemetry) WALWriteFailed() {
	t.builder.ExporterOrderedRwWalWriteFailures.Add(context.Background(), 1, t.commonAdd...)
}

// WALReadFailed counts one log entry that could not be read at replay.
func (t *Telemetry) WALReadFailed() {
	t.builder.ExporterOrderedRwWalReadFailures.Add(context.Background(), 1, t.commonAdd...)
}

// WALReplayed counts samples pushed again from the log.
func (t *Telemetry) WALReplayed(samples int) {
	if samples > 0 {
		t.builder.ExporterOrderedRwWalReplayedSamples.Add(context.Background(), int64(samples), t.commonAdd...)
	}
}

// WALTruncated counts log entries removed.
func (t *Telemetry) WALTruncated(entries uint64) {
	if entries > 0 {
		t.builder.ExporterOrderedRwWalTruncatedEntries.Add(context.Background(), int64(entries), t.commonAdd...)
	}
}

// Shutdown unregisters the instruments.
func (t *Telemetry) Shutdown() {
	t.std.shutdown()
	t.builder.Shutdown()
}
