// Package health turns the collector's signals into a readiness verdict: each signal (queue fill,
// send failures, send lag, refusals, memory) is judged by its own function against its threshold
// over the last check interval (judge.go); the Evaluator adds component status events and the
// lifecycle, and holds readiness back for `recovery_duration` after a problem so it does not flap.
package health // import "github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/health"

import (
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"
)

// Signals that can make the collector not ready; also the values of the `signal` attribute of
// otelcol_extension_fleet_health_utilization.
const (
	SignalQueue       = "queue"
	SignalMemory      = "memory"
	SignalRefused     = "refused"
	SignalSendFailure = "send_failure"
	SignalSendLag     = "send_lag"
	SignalComponent   = "component"
	SignalLifecycle   = "lifecycle"
	SignalRecovery    = "recovery"
)

// Verdicts, as shown in /readyz, /status and /fleet.
const (
	VerdictReady      = "ready"
	VerdictNotReady   = "not_ready"
	VerdictRecovering = "recovering"
	VerdictStarting   = "starting"
	VerdictStopping   = "stopping"
)

// Reason is one cause of not being ready, with the action the operating guide would take.
type Reason struct {
	Signal    string  `json:"signal"`
	Component string  `json:"component,omitempty"`
	Value     float64 `json:"value,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	Message   string  `json:"message"`
	Action    string  `json:"action,omitempty"`
}

// ExporterStatus is one exporter's queue and its item counts over the last check interval.
type ExporterStatus struct {
	ID               string   `json:"id"`
	QueueSize        *float64 `json:"queue_size,omitempty"`
	QueueCapacity    *float64 `json:"queue_capacity,omitempty"`
	QueueUtilization *float64 `json:"queue_utilization,omitempty"`
	Sent             float64  `json:"sent"`
	SendFailed       float64  `json:"send_failed"`
	EnqueueFailed    float64  `json:"enqueue_failed"`
	SendFailureRatio float64  `json:"send_failure_ratio"`
	// SendLagSeconds is how far behind the exporter is, when it publishes it (ordered_rw).
	SendLagSeconds *float64 `json:"send_lag_seconds,omitempty"`
}

// ReceiverStatus is one receiver's item counts over the last check interval.
type ReceiverStatus struct {
	ID           string  `json:"id"`
	Accepted     float64 `json:"accepted"`
	Refused      float64 `json:"refused"`
	RefusedRatio float64 `json:"refused_ratio"`
}

// MemoryStatus compares resident memory with the limit the collector runs under.
type MemoryStatus struct {
	ResidentBytes float64  `json:"resident_bytes"`
	HeapBytes     float64  `json:"heap_bytes,omitempty"`
	LimitBytes    uint64   `json:"limit_bytes,omitempty"`
	LimitSource   string   `json:"limit_source"`
	LimitDetail   string   `json:"limit_detail,omitempty"`
	Utilization   *float64 `json:"utilization,omitempty"`
	// LimiterRefused is what memory_limiter refused over the last check interval.
	LimiterRefused float64 `json:"memory_limiter_refused"`
}

// ComponentStatus is the last status event of one component.
type ComponentStatus struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`
	Status string    `json:"status"`
	Error  string    `json:"error,omitempty"`
	Since  time.Time `json:"since"`

	status componentstatus.Status
}

// Report is everything /status shows; /readyz shows its verdict and reasons.
type Report struct {
	Ready   bool     `json:"ready"`
	Verdict string   `json:"verdict"`
	Reasons []Reason `json:"reasons,omitempty"`
	// Actions are the reasons' actions without repeats, in plain words.
	Actions []string `json:"actions,omitempty"`
	// HealthySince is when the last problem cleared; readiness waits `recovery_duration` after it.
	HealthySince *time.Time `json:"healthy_since,omitempty"`
	CheckedAt    *time.Time `json:"checked_at,omitempty"`
	// IntervalSeconds is the span the ratios were computed over (0 before the second check).
	IntervalSeconds float64 `json:"interval_seconds"`
	// TelemetryError says why the last read of the collector's own telemetry failed; the
	// thresholds are then not evaluated (readiness keeps its last signal verdict).
	TelemetryError string             `json:"telemetry_error,omitempty"`
	Exporters      []ExporterStatus   `json:"exporters"`
	Receivers      []ReceiverStatus   `json:"receivers"`
	Memory         MemoryStatus       `json:"memory"`
	Components     []ComponentStatus  `json:"components"`
	Utilization    map[string]float64 `json:"utilization"`
	Thresholds     Thresholds         `json:"thresholds"`
	// Extra holds series_guard and ordered_rw figures, when those components run.
	Extra map[string]float64 `json:"extra,omitempty"`
}
