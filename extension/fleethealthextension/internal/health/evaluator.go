package health

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
)

// Thresholds cross which the collector is not ready. Zero disables a threshold.
type Thresholds struct {
	QueueUtilization  float64 `json:"queue_utilization"`
	MemoryUtilization float64 `json:"memory_utilization"`
	RefusedRatio      float64 `json:"refused_ratio"`
	SendFailureRatio  float64 `json:"send_failure_ratio"`
	// SendLagSeconds: how far behind an exporter that publishes its send lag may be.
	SendLagSeconds float64 `json:"send_lag_seconds"`
}

// staleReadsBeforeForget is how many failed reads of the collector's telemetry in a row keep the
// last signal verdict: one failed scrape is noise, but a collector whose telemetry is switched
// off must not stay out of rotation forever because of an old reading.
const staleReadsBeforeForget = 3

type lifecycle int

const (
	lifecycleStarting lifecycle = iota
	lifecycleRunning
	lifecycleStopping
)

// Evaluator keeps the latest signals and component statuses and decides readiness. It is safe
// for concurrent use: checks and status events write, HTTP handlers and metrics read.
type Evaluator struct {
	mu         sync.RWMutex
	thresholds Thresholds
	recovery   time.Duration
	now        func() time.Time

	lifecycle     lifecycle
	prev          *signals.Snapshot
	failedReads   int
	memoryLimit   signals.MemoryLimit
	signalReasons []Reason
	view          Report // signal part of the report from the last check
	components    map[string]ComponentStatus

	runningSince time.Time // when the pipelines last started (PipelinesReady)
	problem      bool      // a problem was present at the last evaluation
	everProblem  bool      // recovery applies only after a problem
	healthySince time.Time // when the last problem cleared
}

// NewEvaluator returns an evaluator in the starting state: not ready until the pipelines are.
func NewEvaluator(th Thresholds, recovery time.Duration, now func() time.Time) *Evaluator {
	return &Evaluator{
		thresholds:  th,
		recovery:    recovery,
		now:         now,
		memoryLimit: signals.MemoryLimit{Source: signals.LimitSourceNone},
		components:  map[string]ComponentStatus{},
		view: Report{
			Exporters:   []ExporterStatus{},
			Receivers:   []ReceiverStatus{},
			Utilization: map[string]float64{},
		},
	}
}

// SetMemoryLimit sets what resident memory is compared to.
func (e *Evaluator) SetMemoryLimit(l signals.MemoryLimit) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.memoryLimit = l
}

// MemoryLimit returns what resident memory is compared to.
func (e *Evaluator) MemoryLimit() signals.MemoryLimit {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.memoryLimit
}

// PipelinesReady marks the collector as running: readiness now follows the signals.
func (e *Evaluator) PipelinesReady() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lifecycle != lifecycleRunning {
		e.runningSince = e.now()
	}
	e.lifecycle = lifecycleRunning
}

// Running tells whether the pipelines run (started, not stopping) and since when: what
// health_check's `/` answers, whatever the signals say.
func (e *Evaluator) Running() (bool, time.Time) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.lifecycle == lifecycleRunning, e.runningSince
}

// PipelinesStopping marks the collector as shutting down: not ready from now on.
func (e *Evaluator) PipelinesStopping() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lifecycle = lifecycleStopping
}

// ComponentChanged records a component status event.
func (e *Evaluator) ComponentChanged(id, kind string, ev *componentstatus.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := ComponentStatus{ID: id, Kind: kind, Status: strings.TrimPrefix(ev.Status().String(), "Status"), Since: ev.Timestamp(), status: ev.Status()}
	if ev.Err() != nil {
		cs.Error = ev.Err().Error()
	}
	e.components[kind+"/"+id] = cs
	e.updateProblemLocked()
}

// ReadFailed records that the collector's telemetry could not be read.
func (e *Evaluator) ReadFailed(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failedReads++
	e.view.TelemetryError = err.Error()
	// Ratios need two consecutive readings; the next success starts over.
	e.prev = nil
	if e.failedReads >= staleReadsBeforeForget {
		e.signalReasons = nil
	}
	e.updateProblemLocked()
}

// Observe evaluates one reading of the collector's telemetry against the thresholds.
func (e *Evaluator) Observe(snap signals.Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failedReads = 0
	view, reasons := evaluate(e.prev, snap, e.thresholds, e.memoryLimit)
	e.view = view
	e.signalReasons = reasons
	e.prev = &snap
	e.updateProblemLocked()
}

// updateProblemLocked tracks when problems clear, which is what recovery counts from.
func (e *Evaluator) updateProblemLocked() {
	problem := len(e.signalReasons) > 0 || len(e.componentReasonsLocked()) > 0
	if e.problem && !problem {
		e.healthySince = e.now()
	}
	if problem {
		e.everProblem = true
	}
	e.problem = problem
}

func (e *Evaluator) componentReasonsLocked() []Reason {
	var out []Reason
	for _, key := range slices.Sorted(maps.Keys(e.components)) {
		cs := e.components[key]
		if cs.status != componentstatus.StatusPermanentError && cs.status != componentstatus.StatusFatalError {
			continue
		}
		out = append(out, Reason{
			Signal:    SignalComponent,
			Component: key,
			Message:   fmt.Sprintf("%s %s reported %s: %s", cs.Kind, cs.ID, cs.Status, cs.Error),
			Action:    fmt.Sprintf("Fix %s %s: a permanent error does not clear by itself (check its configuration, credentials and destination), then restart the collector.", cs.Kind, cs.ID),
		})
	}
	return out
}

// Report returns the current verdict with every signal.
func (e *Evaluator) Report() Report {
	e.mu.RLock()
	defer e.mu.RUnlock()
	now := e.now()
	r := e.view
	r.Thresholds = e.thresholds
	r.Utilization = maps.Clone(e.view.Utilization)
	r.Components = make([]ComponentStatus, 0, len(e.components))
	for _, key := range slices.Sorted(maps.Keys(e.components)) {
		r.Components = append(r.Components, e.components[key])
	}
	reasons := append(slices.Clone(e.signalReasons), e.componentReasonsLocked()...)
	r.Verdict, r.Reasons = e.verdictLocked(now, reasons)
	if e.everProblem && !e.problem {
		hs := e.healthySince
		r.HealthySince = &hs
	}
	r.Ready = r.Verdict == VerdictReady
	r.Actions = actions(r.Reasons)
	return r
}

// verdictLocked combines the lifecycle, the signals' and components' reasons, and the recovery
// period into the verdict, with the reasons it shows.
func (e *Evaluator) verdictLocked(now time.Time, reasons []Reason) (string, []Reason) {
	switch {
	case e.lifecycle == lifecycleStarting:
		return VerdictStarting, append([]Reason{{Signal: SignalLifecycle, Message: "the collector is starting: pipelines are not running yet"}}, reasons...)
	case e.lifecycle == lifecycleStopping:
		return VerdictStopping, append([]Reason{{Signal: SignalLifecycle, Message: "the collector is shutting down"}}, reasons...)
	case len(reasons) > 0:
		return VerdictNotReady, reasons
	case e.everProblem && now.Sub(e.healthySince) < e.recovery:
		healthy := now.Sub(e.healthySince).Truncate(time.Second)
		return VerdictRecovering, []Reason{{
			Signal:    SignalRecovery,
			Value:     healthy.Seconds(),
			Threshold: e.recovery.Seconds(),
			Message:   fmt.Sprintf("healthy for %s of the %s recovery period", healthy, e.recovery),
		}}
	default:
		return VerdictReady, reasons
	}
}

// actions are the reasons' actions without repeats, in the reasons' order.
func actions(reasons []Reason) []string {
	var out []string
	for _, reason := range reasons {
		if reason.Action != "" && !slices.Contains(out, reason.Action) {
			out = append(out, reason.Action)
		}
	}
	return out
}
