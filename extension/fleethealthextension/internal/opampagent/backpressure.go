package opampagent

import (
	"encoding/json"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"
)

// The custom capability fleet_health reports its backpressure figures under. OpAMP v0.23's
// ComponentHealth has no attributes, so the figures travel as a CustomMessage: any server that
// lists this capability in its CustomCapabilities receives them; others ignore them.
const (
	// Capability is the reverse-FQDN name of the capability, versioned by its last element.
	Capability = "io.github.otelcol-fleet.backpressure.v1"
	// MessageType is the one message type of the capability: a Backpressure document.
	MessageType = "report"
	// ContentType of the message's data.
	ContentType = "application/json"
)

// Backpressure is the payload of a CustomMessage{Capability, Type: "report"}: JSON, one per
// check (every check_interval) and at once when readiness changes. Fields may be added; none is
// removed or changes meaning within v1.
type Backpressure struct {
	// Ready is /readyz's answer; Verdict one of ready, not_ready, recovering, starting, stopping.
	Ready   bool   `json:"ready"`
	Verdict string `json:"verdict"`
	// Reasons why the collector is not ready (empty when ready).
	Reasons []health.Reason `json:"reasons,omitempty"`
	// Utilization is the worst value of each signal at the last check, as a share: queue,
	// memory, refused, send_failure, and send_lag (lag / thresholds.send_lag).
	Utilization map[string]float64 `json:"utilization,omitempty"`
	// SendLagSeconds is the largest send lag an exporter publishes (ordered_rw), if any.
	SendLagSeconds *float64 `json:"send_lag_seconds,omitempty"`
	// MemoryResidentBytes and MemoryLimitBytes compare resident memory with its limit (0: none).
	MemoryResidentBytes float64 `json:"memory_resident_bytes,omitempty"`
	MemoryLimitBytes    uint64  `json:"memory_limit_bytes,omitempty"`
	// SeriesGuard holds series_guard's budget figures (otelcol_processor_series_guard_*), when it runs.
	SeriesGuard map[string]float64 `json:"series_guard,omitempty"`
	// IntervalSeconds is check_interval; CheckedAt when the figures were read.
	IntervalSeconds float64    `json:"interval_seconds"`
	CheckedAt       *time.Time `json:"checked_at,omitempty"`
}

// Limits of a Backpressure built here; a server must still bound what it accepts.
const (
	maxReasons     = 20
	maxSeriesGuard = 16
)

// NewBackpressure extracts the document from a verdict.
func NewBackpressure(r health.Report, interval time.Duration) Backpressure {
	bp := Backpressure{
		Ready:               r.Ready,
		Verdict:             r.Verdict,
		Reasons:             r.Reasons,
		Utilization:         r.Utilization,
		MemoryResidentBytes: r.Memory.ResidentBytes,
		MemoryLimitBytes:    r.Memory.LimitBytes,
		IntervalSeconds:     interval.Seconds(),
		CheckedAt:           r.CheckedAt,
	}
	if len(bp.Reasons) > maxReasons {
		bp.Reasons = bp.Reasons[:maxReasons]
	}
	for _, e := range r.Exporters {
		if e.SendLagSeconds != nil && (bp.SendLagSeconds == nil || *e.SendLagSeconds > *bp.SendLagSeconds) {
			lag := *e.SendLagSeconds
			bp.SendLagSeconds = &lag
		}
	}
	for k, v := range r.Extra {
		if len(bp.SeriesGuard) >= maxSeriesGuard {
			break
		}
		if len(k) > len(seriesGuardPrefix) && k[:len(seriesGuardPrefix)] == seriesGuardPrefix {
			if bp.SeriesGuard == nil {
				bp.SeriesGuard = map[string]float64{}
			}
			bp.SeriesGuard[k] = v
		}
	}
	return bp
}

const seriesGuardPrefix = "otelcol_processor_series_guard_"

// Marshal encodes the document as the message's data.
func (bp Backpressure) Marshal() ([]byte, error) { return json.Marshal(bp) }
