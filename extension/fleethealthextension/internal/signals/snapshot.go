// Package signals reads what the collector says about itself: its own Prometheus telemetry
// (the public contract for queue, failure and memory figures) and the memory limit it runs under.
package signals // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"

import (
	"context"
	"time"
)

// Snapshot is one reading of the collector's cumulative counters and current gauges.
type Snapshot struct {
	Time      time.Time
	Exporters map[string]ExporterFigures
	Receivers map[string]ReceiverFigures
	// MemoryLimiterRefused is the cumulative count of items memory_limiter refused (all signals).
	MemoryLimiterRefused float64
	// MemoryRSS is the resident set size in bytes; 0 when the collector does not report it.
	MemoryRSS float64
	// HeapAlloc is the Go heap in use in bytes (what memory_limiter compares to its limit).
	HeapAlloc float64
	// Extra holds the series_guard and ordered_rw figures, keyed "name{k=v,...}", as found.
	Extra map[string]float64
}

// ExporterFigures are one exporter's queue gauges and cumulative item counters, summed over
// signals (metric points, spans, log records, profile samples). QueueSize and QueueCapacity are
// those of its fullest queue (one per signal).
type ExporterFigures struct {
	HasQueue      bool
	QueueSize     float64
	QueueCapacity float64
	Sent          float64
	SendFailed    float64
	EnqueueFailed float64
	// HasSendLag is set when the exporter publishes how far behind it is (ordered_rw does);
	// SendLag is then that delay in seconds: the oldest sample that is due and not yet
	// delivered became due this long ago.
	HasSendLag bool
	SendLag    float64
}

// ReceiverFigures are one receiver's cumulative item counters, summed over signals.
type ReceiverFigures struct {
	Accepted float64
	Refused  float64
}

// Source produces snapshots; the extension reads one every check_interval.
type Source interface {
	Read(ctx context.Context) (Snapshot, error)
}
