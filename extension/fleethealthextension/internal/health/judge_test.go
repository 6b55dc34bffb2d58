package health

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
)

func TestJudgeQueue(t *testing.T) {
	es := ExporterStatus{ID: "otlp_http/a"}
	require.Equal(t, judgement{}, judgeQueue(&es, signals.ExporterFigures{}, 0.8), "no queue")
	require.Nil(t, es.QueueSize)

	j := judgeQueue(&es, signals.ExporterFigures{HasQueue: true, QueueSize: 3}, 0.8)
	require.False(t, j.measured, "capacity unknown")
	require.InDelta(t, 3, *es.QueueSize, 0, "the size is still shown")
	require.Nil(t, es.QueueUtilization)

	j = judgeQueue(&es, signals.ExporterFigures{HasQueue: true, QueueSize: 7, QueueCapacity: 10}, 0.8)
	require.Equal(t, judgement{measured: true, utilization: 0.7}, j)
	require.InDelta(t, 0.7, *es.QueueUtilization, 1e-12)

	j = judgeQueue(&es, signals.ExporterFigures{HasQueue: true, QueueSize: 8, QueueCapacity: 10}, 0.8)
	require.True(t, j.crossed, "the threshold itself trips")
	require.Equal(t, Reason{Signal: SignalQueue, Component: "exporter/otlp_http/a", Value: 0.8, Threshold: 0.8,
		Message: "exporter otlp_http/a sending queue is 80% full (8 of 10)",
		Action:  "Exporter otlp_http/a cannot keep up with its destination: scale out (add collectors behind the load balancer) or give it more consumers, and check the destination's latency and errors."}, j.reason)

	j = judgeQueue(&es, signals.ExporterFigures{HasQueue: true, QueueSize: 10, QueueCapacity: 10}, 0)
	require.Equal(t, judgement{measured: true, utilization: 1}, j, "0 disables the threshold, not the figure")
}

func TestJudgeSendFailures(t *testing.T) {
	es := ExporterStatus{ID: "prw"}
	j := judgeSendFailures(&es, signals.ExporterFigures{Sent: 100}, signals.ExporterFigures{Sent: 100}, 5, 0.05)
	require.Equal(t, judgement{measured: true}, j, "a quiet interval is measured and is not a failure")

	es = ExporterStatus{ID: "prw"}
	j = judgeSendFailures(&es, signals.ExporterFigures{Sent: 100, SendFailed: 10, EnqueueFailed: 0},
		signals.ExporterFigures{Sent: 190, SendFailed: 15, EnqueueFailed: 5}, 5, 0.05)
	require.InDelta(t, 90, es.Sent, 0)
	require.InDelta(t, 5, es.SendFailed, 0)
	require.InDelta(t, 5, es.EnqueueFailed, 0)
	require.InDelta(t, 0.1, j.utilization, 1e-12)
	require.True(t, j.crossed)
	require.Equal(t, "exporter prw failed 10% of items in the last 5s (5 failed to send, 5 rejected by a full queue, 90 sent)", j.reason.Message)

	es = ExporterStatus{ID: "prw"}
	j = judgeSendFailures(&es, signals.ExporterFigures{Sent: 1000, SendFailed: 50}, signals.ExporterFigures{Sent: 40, SendFailed: 0}, 5, 0.05)
	require.InDelta(t, 40, es.Sent, 0, "a counter that went down counts from zero")
	require.False(t, j.crossed)
}

func TestJudgeSendLag(t *testing.T) {
	es := ExporterStatus{ID: "ordered_rw"}
	require.Equal(t, judgement{}, judgeSendLag(&es, signals.ExporterFigures{}, 15), "no lag published")
	require.Nil(t, es.SendLagSeconds)

	require.Equal(t, judgement{}, judgeSendLag(&es, signals.ExporterFigures{HasSendLag: true, SendLag: 600}, 0), "threshold off: no utilization")
	require.InDelta(t, 600, *es.SendLagSeconds, 0, "but the lag is shown")

	j := judgeSendLag(&es, signals.ExporterFigures{HasSendLag: true, SendLag: 7.5}, 15)
	require.Equal(t, judgement{measured: true, utilization: 0.5}, j, "a share of the threshold")

	j = judgeSendLag(&es, signals.ExporterFigures{HasSendLag: true, SendLag: 15}, 15)
	require.True(t, j.crossed)
	require.Equal(t, "exporter ordered_rw is 15s behind: its destination is not keeping up or not answering (the oldest sample due is not delivered after 15s)", j.reason.Message)
}

func TestJudgeRefusals(t *testing.T) {
	rs := ReceiverStatus{ID: "otlp"}
	j := judgeRefusals(&rs, signals.ReceiverFigures{Accepted: 100}, signals.ReceiverFigures{Accepted: 1090, Refused: 10}, 2, 0.01)
	require.InDelta(t, 0.01, j.utilization, 1e-12)
	require.True(t, j.crossed)
	require.Equal(t, "receiver otlp refused 1.0% of incoming items in the last 2s (10 of 1000)", j.reason.Message)

	rs = ReceiverStatus{ID: "otlp"}
	j = judgeRefusals(&rs, signals.ReceiverFigures{}, signals.ReceiverFigures{Accepted: 1000, Refused: 9}, 2, 0.01)
	require.False(t, j.crossed, "under the threshold")
	require.True(t, j.measured)

	j = judgeRefusals(&rs, signals.ReceiverFigures{}, signals.ReceiverFigures{Refused: 5}, 2, 0)
	require.False(t, j.crossed, "0 disables it")
	require.InDelta(t, 1, j.utilization, 0)
}

func TestJudgeMemory(t *testing.T) {
	limit := signals.MemoryLimit{Bytes: 1000 << 20, Source: signals.LimitSourceMemoryLimiter, Detail: "memory_limiter limit_mib=1000"}
	cur := signals.Snapshot{Time: time.Unix(10, 0), MemoryRSS: 950 << 20, HeapAlloc: 400 << 20, MemoryLimiterRefused: 30}

	var ms MemoryStatus
	j := judgeMemory(&ms, nil, cur, signals.MemoryLimit{Source: signals.LimitSourceNone}, 0.9)
	require.Equal(t, judgement{}, j, "no limit: shown, never judged")
	require.Equal(t, MemoryStatus{ResidentBytes: 950 << 20, HeapBytes: 400 << 20, LimitSource: signals.LimitSourceNone}, ms)

	j = judgeMemory(&ms, &signals.Snapshot{MemoryLimiterRefused: 10}, cur, limit, 0.9)
	require.InDelta(t, 0.95, j.utilization, 1e-12)
	require.InDelta(t, 20, ms.LimiterRefused, 0, "memory_limiter's refusals over the interval")
	require.Equal(t, "memory_limiter limit_mib=1000", ms.LimitDetail)
	require.True(t, j.crossed)
	require.Equal(t, "resident memory is 95% of the memory_limiter limit (950 MiB of 1000 MiB)", j.reason.Message)
	require.Empty(t, j.reason.Component, "memory is the process's")

	j = judgeMemory(&ms, nil, signals.Snapshot{}, limit, 0.9)
	require.Equal(t, judgement{}, j, "no resident memory reported")
}

// TestEvaluateOrdersReasons: the verdict lists exporters by id (queue, send failures, send lag
// each), then receivers by id, then memory, whatever order the map holds them in.
func TestEvaluateOrdersReasons(t *testing.T) {
	at := time.Unix(100, 0)
	full := signals.ExporterFigures{HasQueue: true, QueueSize: 10, QueueCapacity: 10, Sent: 10, SendFailed: 10, HasSendLag: true, SendLag: 60}
	prev := signals.Snapshot{Time: at, Exporters: map[string]signals.ExporterFigures{"b": {}, "a": {}}, Receivers: map[string]signals.ReceiverFigures{"r2": {}, "r1": {}}}
	cur := signals.Snapshot{Time: at.Add(5 * time.Second), MemoryRSS: 2 << 30,
		Exporters: map[string]signals.ExporterFigures{"b": full, "a": full},
		Receivers: map[string]signals.ReceiverFigures{"r2": {Refused: 1}, "r1": {Refused: 1}}}
	view, reasons := evaluate(&prev, cur, defaultThresholds, signals.MemoryLimit{Bytes: 1 << 30, Source: signals.LimitSourceCgroup})
	var got []string
	for _, r := range reasons {
		got = append(got, r.Signal+" "+r.Component)
	}
	require.Equal(t, []string{
		"queue exporter/a", "send_failure exporter/a", "send_lag exporter/a",
		"queue exporter/b", "send_failure exporter/b", "send_lag exporter/b",
		"refused receiver/r1", "refused receiver/r2",
		"memory ",
	}, got)
	require.Equal(t, map[string]float64{SignalQueue: 1, SignalSendFailure: 0.5, SignalSendLag: 4, SignalRefused: 1, SignalMemory: 2}, view.Utilization)
	require.InDelta(t, 5, view.IntervalSeconds, 0)
}
