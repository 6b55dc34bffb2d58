package telemetry // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/telemetry"

// Reasons a sample is dropped, the values of the `reason` attribute of dropped_samples.
const (
	ReasonStale      = "stale"        // not newer than the last sample sent for its series
	ReasonOutOfOrder = "out_of_order" // the backend rejected it as out of order
	ReasonDuplicate  = "duplicate"    // the backend holds another value at that timestamp
	ReasonTooOld     = "too_old"      // older than the backend accepts
	ReasonLimits     = "limits"       // a per-tenant limit of the backend
	ReasonOther      = "other"        // any other rejection of its content
	ReasonSendFailed = "send_failed"  // retries exhausted, or a status that rejects every request
	ReasonShutdown   = "shutdown"     // could not be delivered before the shutdown ended
)

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
