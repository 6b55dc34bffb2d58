package telemetry // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"

// Reasons a sample is dropped, the values of the `reason` attribute of dropped_samples.
const (
	ReasonStale      = "stale"        // not newer than the last sample sent for its series
	ReasonOutOfOrder = "out_of_order" // the backend rejected it as out of order
	ReasonDuplicate  = "duplicate"    // the backend holds another value at that timestamp
	ReasonTooOld     = "too_old"      // outside the time range the backend accepts (too old, or too far ahead)
	ReasonInvalid    = "invalid"      // the backend rejected its series as invalid (labels, metric name)
	ReasonConflict   = "conflict"     // Thanos receive's 409 naming no cause: out of order, duplicate or out of bounds
	ReasonLimits     = "limits"       // a per-tenant limit of the backend or the request size: the request dropped whole
	ReasonRejected   = "rejected"     // a 4xx (not 429) naming no sample: the request dropped whole, never resent
	ReasonSendFailed = "send_failed"  // retries exhausted, or the backend could not be reached
	ReasonShutdown   = "shutdown"     // could not be delivered before the shutdown ended
)

// SampleRejection reports whether reason is the backend's rejection of one named sample, of
// which only that sample was lost: the rest of its request was delivered.
func SampleRejection(reason string) bool {
	switch reason {
	case ReasonOutOfOrder, ReasonDuplicate, ReasonTooOld, ReasonInvalid, ReasonConflict:
		return true
	}
	return false
}

// Reasons a sample is released from hold-back, the values of `reason` on released_samples.
const (
	ReleaseOnTime   = "on_time"  // its timestamp plus the window passed
	ReleaseLate     = "late"     // it arrived after its window and went out at once
	ReleaseEarly    = "early"    // max_held_samples was reached and it was the oldest held
	ReleaseShutdown = "shutdown" // released ahead of its time because the shutdown had to end
)

// ReasonTooFarInFuture is the reason of a sample dropped before it was held: its timestamp was
// more than ordering.holdback.max_future ahead of the collector's clock, and held it would have
// stayed until then.
const ReasonTooFarInFuture = "too_far_in_future"

// ReasonMaxTrackedSeries is the reason of a sample of a new series refused because the exporter
// already tracks ordering.max_tracked_series series.
const ReasonMaxTrackedSeries = "max_tracked_series"

// RefusedMemoryBudget is the reason of refused_samples for a push refused because the samples
// queued and held already took ordering.max_buffered_bytes: the sender gets a retryable error.
const RefusedMemoryBudget = "memory_budget"

// Reasons of samples the upstream translator leaves out of the series it returns, counted by the
// exporter before the engine sees them.
const (
	// ReasonInvalidName: the metric name normalizes to nothing or to underscores only ("", "_").
	ReasonInvalidName = "invalid_name"
	// ReasonInvalidTemporality: a delta sum or histogram, which remote write cannot carry.
	ReasonInvalidTemporality = "invalid_temporality"
)
