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
	e.lifecycle = lifecycleRunning
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

	switch {
	case e.lifecycle == lifecycleStarting:
		r.Verdict = VerdictStarting
		reasons = append([]Reason{{Signal: SignalLifecycle, Message: "the collector is starting: pipelines are not running yet"}}, reasons...)
	case e.lifecycle == lifecycleStopping:
		r.Verdict = VerdictStopping
		reasons = append([]Reason{{Signal: SignalLifecycle, Message: "the collector is shutting down"}}, reasons...)
	case len(reasons) > 0:
		r.Verdict = VerdictNotReady
	case e.everProblem && now.Sub(e.healthySince) < e.recovery:
		r.Verdict = VerdictRecovering
		healthy := now.Sub(e.healthySince).Truncate(time.Second)
		reasons = []Reason{{
			Signal:    SignalRecovery,
			Value:     healthy.Seconds(),
			Threshold: e.recovery.Seconds(),
			Message:   fmt.Sprintf("healthy for %s of the %s recovery period", healthy, e.recovery),
		}}
	default:
		r.Verdict = VerdictReady
	}
	if e.everProblem && !e.problem {
		hs := e.healthySince
		r.HealthySince = &hs
	}
	r.Ready = r.Verdict == VerdictReady
	r.Reasons = reasons
	r.Actions = nil
	for _, reason := range reasons {
		if reason.Action != "" && !slices.Contains(r.Actions, reason.Action) {
			r.Actions = append(r.Actions, reason.Action)
		}
	}
	return r
}

// evaluate computes the signal part of a report from two consecutive readings.
func evaluate(prev *signals.Snapshot, cur signals.Snapshot, th Thresholds, limit signals.MemoryLimit) (Report, []Reason) {
	at := cur.Time
	view := Report{
		CheckedAt:   &at,
		Exporters:   []ExporterStatus{},
		Receivers:   []ReceiverStatus{},
		Utilization: map[string]float64{},
		Extra:       cur.Extra,
	}
	if prev != nil {
		view.IntervalSeconds = cur.Time.Sub(prev.Time).Seconds()
	}
	var reasons []Reason
	worst := func(signal string, v float64) {
		if v > view.Utilization[signal] {
			view.Utilization[signal] = v
		}
	}
	// Memory has a utilization only when a limit is known: 0% would claim headroom nobody measured.
	for _, s := range []string{SignalQueue, SignalRefused, SignalSendFailure} {
		view.Utilization[s] = 0
	}

	for _, id := range slices.Sorted(maps.Keys(cur.Exporters)) {
		f := cur.Exporters[id]
		es := ExporterStatus{ID: id}
		if f.HasQueue {
			size, capacity := f.QueueSize, f.QueueCapacity
			es.QueueSize, es.QueueCapacity = &size, &capacity
			if capacity > 0 {
				u := size / capacity
				es.QueueUtilization = &u
				worst(SignalQueue, u)
				if th.QueueUtilization > 0 && u >= th.QueueUtilization {
					reasons = append(reasons, Reason{
						Signal: SignalQueue, Component: "exporter/" + id, Value: u, Threshold: th.QueueUtilization,
						Message: fmt.Sprintf("exporter %s sending queue is %.0f%% full (%.0f of %.0f)", id, 100*u, size, capacity),
						Action:  fmt.Sprintf("Exporter %s cannot keep up with its destination: scale out (add collectors behind the load balancer) or give it more consumers, and check the destination's latency and errors.", id),
					})
				}
			}
		}
		if prev != nil {
			p := prev.Exporters[id]
			es.Sent = delta(p.Sent, f.Sent)
			es.SendFailed = delta(p.SendFailed, f.SendFailed)
			es.EnqueueFailed = delta(p.EnqueueFailed, f.EnqueueFailed)
			failed := es.SendFailed + es.EnqueueFailed
			if total := es.Sent + failed; total > 0 {
				es.SendFailureRatio = failed / total
			}
			worst(SignalSendFailure, es.SendFailureRatio)
			if th.SendFailureRatio > 0 && failed > 0 && es.SendFailureRatio >= th.SendFailureRatio {
				reasons = append(reasons, Reason{
					Signal: SignalSendFailure, Component: "exporter/" + id, Value: es.SendFailureRatio, Threshold: th.SendFailureRatio,
					Message: fmt.Sprintf("exporter %s failed %.0f%% of items in the last %s (%.0f failed to send, %.0f rejected by a full queue, %.0f sent)",
						id, 100*es.SendFailureRatio, interval(view.IntervalSeconds), es.SendFailed, es.EnqueueFailed, es.Sent),
					Action: fmt.Sprintf("Fix the destination of exporter %s: check its endpoint, credentials and the errors it returns in the collector's logs; a full queue means it is too slow for the load.", id),
				})
			}
		}
		if f.HasSendLag {
			lag := f.SendLag
			es.SendLagSeconds = &lag
			if th.SendLagSeconds > 0 {
				// A share of the threshold: unlike a queue, a lag has no capacity to fill. Shown
				// only where an exporter publishes its lag.
				if _, ok := view.Utilization[SignalSendLag]; !ok {
					view.Utilization[SignalSendLag] = 0
				}
				worst(SignalSendLag, lag/th.SendLagSeconds)
				if lag >= th.SendLagSeconds {
					behind := seconds(lag)
					reasons = append(reasons, Reason{
						Signal: SignalSendLag, Component: "exporter/" + id, Value: lag, Threshold: th.SendLagSeconds,
						Message: fmt.Sprintf("exporter %s is %s behind: its destination is not keeping up or not answering (the oldest sample due is not delivered after %s)", id, behind, behind),
						Action:  fmt.Sprintf("Check the destination of exporter %s: is it up and answering within `timeout` (timeouts, 5xx and 429 in the collector's logs, the workspace's ingestion quotas)? Data is kept and retried meanwhile, up to `retry_on_failure::max_elapsed_time`; if the destination is up but slow, scale out or raise `remote_write_queue::num_consumers`.", id),
					})
				}
			}
		}
		view.Exporters = append(view.Exporters, es)
	}

	for _, id := range slices.Sorted(maps.Keys(cur.Receivers)) {
		f := cur.Receivers[id]
		rs := ReceiverStatus{ID: id}
		if prev != nil {
			p := prev.Receivers[id]
			rs.Accepted = delta(p.Accepted, f.Accepted)
			rs.Refused = delta(p.Refused, f.Refused)
			if total := rs.Accepted + rs.Refused; total > 0 {
				rs.RefusedRatio = rs.Refused / total
			}
			worst(SignalRefused, rs.RefusedRatio)
			if th.RefusedRatio > 0 && rs.Refused > 0 && rs.RefusedRatio >= th.RefusedRatio {
				reasons = append(reasons, Reason{
					Signal: SignalRefused, Component: "receiver/" + id, Value: rs.RefusedRatio, Threshold: th.RefusedRatio,
					Message: fmt.Sprintf("receiver %s refused %.1f%% of incoming items in the last %s (%.0f of %.0f)",
						id, 100*rs.RefusedRatio, interval(view.IntervalSeconds), rs.Refused, rs.Accepted+rs.Refused),
					Action: "The pipeline pushes back on senders (memory_limiter or full queues): scale out, or provision more memory for the collector.",
				})
			}
		}
		view.Receivers = append(view.Receivers, rs)
	}

	view.Memory = MemoryStatus{
		ResidentBytes: cur.MemoryRSS,
		HeapBytes:     cur.HeapAlloc,
		LimitBytes:    limit.Bytes,
		LimitSource:   limit.Source,
		LimitDetail:   limit.Detail,
	}
	if prev != nil {
		view.Memory.LimiterRefused = delta(prev.MemoryLimiterRefused, cur.MemoryLimiterRefused)
	}
	if limit.Bytes > 0 && cur.MemoryRSS > 0 {
		u := cur.MemoryRSS / float64(limit.Bytes)
		view.Memory.Utilization = &u
		view.Utilization[SignalMemory] = u
		if th.MemoryUtilization > 0 && u >= th.MemoryUtilization {
			reasons = append(reasons, Reason{
				Signal: SignalMemory, Value: u, Threshold: th.MemoryUtilization,
				Message: fmt.Sprintf("resident memory is %.0f%% of the %s limit (%.0f MiB of %.0f MiB)",
					100*u, limit.Source, cur.MemoryRSS/(1<<20), float64(limit.Bytes)/(1<<20)),
				Action: "Provision more memory (raise the container limit and memory_limiter's limit together, keeping headroom) or scale out to spread the load.",
			})
		}
	}
	return view, reasons
}

// delta is how much a cumulative counter grew; a counter that went down was reset and counts
// from zero.
func delta(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// seconds renders a delay in whole seconds, e.g. 22s.
func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Truncate(time.Second).String()
}

func interval(seconds float64) string {
	if seconds <= 0 {
		return "interval"
	}
	return (time.Duration(seconds * float64(time.Second))).Truncate(100 * time.Millisecond).String()
}
