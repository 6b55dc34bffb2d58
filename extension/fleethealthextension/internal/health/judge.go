package health

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
)

// judgement is what one signal says about one component (or about the process, for memory):
// how close it is to its limit, and why it is not ready when it crossed its threshold.
type judgement struct {
	// measured is false when there is nothing to compare: no queue, no known capacity or memory
	// limit, a threshold that is off (for send lag), or no earlier reading to take a delta from.
	measured bool
	// utilization is the share shown in otelcol_extension_fleet_health_utilization.
	utilization float64
	// crossed is true when the threshold is crossed; reason then says why and what to do. (A
	// value, not a pointer: a pointer would cost an allocation per reason at every check.)
	crossed bool
	reason  Reason
}

// evaluate computes the signal part of a report from two consecutive readings (prev is nil at the
// first one): each signal is judged per component by its own function, and the verdict takes
// every reason, in a fixed order (exporters by id: queue, send failures, send lag; then receivers
// by id; then memory) so /readyz does not reorder between checks.
func evaluate(prev *signals.Snapshot, cur signals.Snapshot, th Thresholds, limit signals.MemoryLimit) (Report, []Reason) {
	at := cur.Time
	view := Report{
		CheckedAt: &at,
		Exporters: []ExporterStatus{},
		Receivers: []ReceiverStatus{},
		// Memory has a utilization only when a limit is known: 0% would claim headroom nobody
		// measured. Send lag has one only where an exporter publishes it.
		Utilization: map[string]float64{SignalQueue: 0, SignalRefused: 0, SignalSendFailure: 0},
		Extra:       cur.Extra,
	}
	if prev != nil {
		view.IntervalSeconds = cur.Time.Sub(prev.Time).Seconds()
	}
	var reasons []Reason
	record := func(signal string, j judgement) {
		if !j.measured {
			return
		}
		// The worst value of each signal, never below 0.
		if worst, seen := view.Utilization[signal]; j.utilization > worst {
			view.Utilization[signal] = j.utilization
		} else if !seen {
			view.Utilization[signal] = 0
		}
		if j.crossed {
			reasons = append(reasons, j.reason)
		}
	}

	for _, id := range slices.Sorted(maps.Keys(cur.Exporters)) {
		f := cur.Exporters[id]
		es := ExporterStatus{ID: id}
		record(SignalQueue, judgeQueue(&es, f, th.QueueUtilization))
		if prev != nil {
			record(SignalSendFailure, judgeSendFailures(&es, prev.Exporters[id], f, view.IntervalSeconds, th.SendFailureRatio))
		}
		record(SignalSendLag, judgeSendLag(&es, f, th.SendLagSeconds))
		view.Exporters = append(view.Exporters, es)
	}
	for _, id := range slices.Sorted(maps.Keys(cur.Receivers)) {
		rs := ReceiverStatus{ID: id}
		if prev != nil {
			record(SignalRefused, judgeRefusals(&rs, prev.Receivers[id], cur.Receivers[id], view.IntervalSeconds, th.RefusedRatio))
		}
		view.Receivers = append(view.Receivers, rs)
	}
	record(SignalMemory, judgeMemory(&view.Memory, prev, cur, limit, th.MemoryUtilization))
	return view, reasons
}

// judgeQueue fills an exporter's sending-queue figures and judges its fill (size / capacity).
func judgeQueue(es *ExporterStatus, f signals.ExporterFigures, threshold float64) judgement {
	if !f.HasQueue {
		return judgement{}
	}
	size, capacity := f.QueueSize, f.QueueCapacity
	es.QueueSize, es.QueueCapacity = &size, &capacity
	if !(capacity > 0) { // written so that NaN, too, reads as unknown
		return judgement{}
	}
	u := size / capacity
	es.QueueUtilization = &u
	j := judgement{measured: true, utilization: u}
	if threshold > 0 && u >= threshold {
		j.crossed, j.reason = true, Reason{
			Signal: SignalQueue, Component: "exporter/" + es.ID, Value: u, Threshold: threshold,
			Message: fmt.Sprintf("exporter %s sending queue is %.0f%% full (%.0f of %.0f)", es.ID, 100*u, size, capacity),
			Action:  fmt.Sprintf("Exporter %s cannot keep up with its destination: scale out (add collectors behind the load balancer) or give it more consumers, and check the destination's latency and errors.", es.ID),
		}
	}
	return j
}

// judgeSendFailures fills an exporter's item counts over the interval and judges the share that
// failed to send or to enqueue: items refused by a full queue are lost like rejected ones.
func judgeSendFailures(es *ExporterStatus, prev, cur signals.ExporterFigures, intervalSeconds, threshold float64) judgement {
	es.Sent = delta(prev.Sent, cur.Sent)
	es.SendFailed = delta(prev.SendFailed, cur.SendFailed)
	es.EnqueueFailed = delta(prev.EnqueueFailed, cur.EnqueueFailed)
	failed := es.SendFailed + es.EnqueueFailed
	if total := es.Sent + failed; total > 0 {
		es.SendFailureRatio = failed / total
	}
	j := judgement{measured: true, utilization: es.SendFailureRatio}
	// A quiet interval is not a failure: at least one item must have failed.
	if threshold > 0 && failed > 0 && es.SendFailureRatio >= threshold {
		j.crossed, j.reason = true, Reason{
			Signal: SignalSendFailure, Component: "exporter/" + es.ID, Value: es.SendFailureRatio, Threshold: threshold,
			Message: fmt.Sprintf("exporter %s failed %.0f%% of items in the last %s (%.0f failed to send, %.0f rejected by a full queue, %.0f sent)",
				es.ID, 100*es.SendFailureRatio, interval(intervalSeconds), es.SendFailed, es.EnqueueFailed, es.Sent),
			Action: fmt.Sprintf("Fix the destination of exporter %s: check its endpoint, credentials and the errors it returns in the collector's logs; a full queue means it is too slow for the load.", es.ID),
		}
	}
	return j
}

// judgeSendLag fills an exporter's send lag, when it publishes one (ordered_rw), and judges it.
// Its utilization is a share of the threshold: unlike a queue, a lag has no capacity to fill.
func judgeSendLag(es *ExporterStatus, f signals.ExporterFigures, thresholdSeconds float64) judgement {
	if !f.HasSendLag {
		return judgement{}
	}
	lag := f.SendLag
	es.SendLagSeconds = &lag
	if !(thresholdSeconds > 0) {
		return judgement{}
	}
	j := judgement{measured: true, utilization: lag / thresholdSeconds}
	if lag >= thresholdSeconds {
		behind := seconds(lag)
		j.crossed, j.reason = true, Reason{
			Signal: SignalSendLag, Component: "exporter/" + es.ID, Value: lag, Threshold: thresholdSeconds,
			Message: fmt.Sprintf("exporter %s is %s behind: its destination is not keeping up or not answering (the oldest sample due is not delivered after %s)", es.ID, behind, behind),
			Action:  fmt.Sprintf("Check the destination of exporter %s: is it up and answering within `timeout` (timeouts, 5xx and 429 in the collector's logs, the workspace's ingestion quotas)? Data is kept and retried meanwhile, up to `retry_on_failure::max_elapsed_time`; if the destination is up but slow, scale out or raise `remote_write_queue::num_consumers`.", es.ID),
		}
	}
	return j
}

// judgeRefusals fills a receiver's item counts over the interval and judges the share it refused
// (the pipeline pushing back on senders).
func judgeRefusals(rs *ReceiverStatus, prev, cur signals.ReceiverFigures, intervalSeconds, threshold float64) judgement {
	rs.Accepted = delta(prev.Accepted, cur.Accepted)
	rs.Refused = delta(prev.Refused, cur.Refused)
	if total := rs.Accepted + rs.Refused; total > 0 {
		rs.RefusedRatio = rs.Refused / total
	}
	j := judgement{measured: true, utilization: rs.RefusedRatio}
	if threshold > 0 && rs.Refused > 0 && rs.RefusedRatio >= threshold {
		j.crossed, j.reason = true, Reason{
			Signal: SignalRefused, Component: "receiver/" + rs.ID, Value: rs.RefusedRatio, Threshold: threshold,
			Message: fmt.Sprintf("receiver %s refused %.1f%% of incoming items in the last %s (%.0f of %.0f)",
				rs.ID, 100*rs.RefusedRatio, interval(intervalSeconds), rs.Refused, rs.Accepted+rs.Refused),
			Action: "The pipeline pushes back on senders (memory_limiter or full queues): scale out, or provision more memory for the collector.",
		}
	}
	return j
}

// judgeMemory fills the memory figures and judges resident memory against the limit the
// collector runs under, when one is known.
func judgeMemory(ms *MemoryStatus, prev *signals.Snapshot, cur signals.Snapshot, limit signals.MemoryLimit, threshold float64) judgement {
	*ms = MemoryStatus{
		ResidentBytes: cur.MemoryRSS,
		HeapBytes:     cur.HeapAlloc,
		LimitBytes:    limit.Bytes,
		LimitSource:   limit.Source,
		LimitDetail:   limit.Detail,
	}
	if prev != nil {
		ms.LimiterRefused = delta(prev.MemoryLimiterRefused, cur.MemoryLimiterRefused)
	}
	if limit.Bytes == 0 || !(cur.MemoryRSS > 0) {
		return judgement{}
	}
	u := cur.MemoryRSS / float64(limit.Bytes)
	ms.Utilization = &u
	j := judgement{measured: true, utilization: u}
	if threshold > 0 && u >= threshold {
		j.crossed, j.reason = true, Reason{
			Signal: SignalMemory, Value: u, Threshold: threshold,
			Message: fmt.Sprintf("resident memory is %.0f%% of the %s limit (%.0f MiB of %.0f MiB)",
				100*u, limit.Source, cur.MemoryRSS/(1<<20), float64(limit.Bytes)/(1<<20)),
			Action: "Provision more memory (raise the container limit and memory_limiter's limit together, keeping headroom) or scale out to spread the load.",
		}
	}
	return j
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
