package health

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/extension/fleethealthextension/internal/signals"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is the injected clock: tests move time by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

var defaultThresholds = Thresholds{QueueUtilization: 0.8, MemoryUtilization: 0.9, RefusedRatio: 0.01, SendFailureRatio: 0.05, SendLagSeconds: 15}

func newRunning(t *testing.T) (*Evaluator, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	e := NewEvaluator(defaultThresholds, 30*time.Second, clock.Now)
	e.PipelinesReady()
	return e, clock
}

// snap builds a reading at the clock's current time.
func snap(clock *fakeClock, exporters map[string]signals.ExporterFigures, receivers map[string]signals.ReceiverFigures, rss float64) signals.Snapshot {
	return signals.Snapshot{Time: clock.Now(), Exporters: exporters, Receivers: receivers, MemoryRSS: rss}
}

func queue(size, capacity float64) map[string]signals.ExporterFigures {
	return map[string]signals.ExporterFigures{"otlp_http/backend": {HasQueue: true, QueueSize: size, QueueCapacity: capacity}}
}

func TestLifecycle(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	e := NewEvaluator(defaultThresholds, 30*time.Second, clock.Now)
	r := e.Report()
	require.False(t, r.Ready)
	require.Equal(t, VerdictStarting, r.Verdict)
	e.PipelinesReady()
	r = e.Report()
	require.True(t, r.Ready, "no readings yet and nothing wrong: ready")
	require.Equal(t, VerdictReady, r.Verdict)
	require.Empty(t, r.Reasons)
	e.PipelinesStopping()
	r = e.Report()
	require.False(t, r.Ready)
	require.Equal(t, VerdictStopping, r.Verdict)
}

func TestQueueThresholdAndRecovery(t *testing.T) {
	e, clock := newRunning(t)
	e.Observe(snap(clock, queue(7, 10), nil, 0))
	r := e.Report()
	require.True(t, r.Ready)
	require.InDelta(t, 0.7, r.Utilization[SignalQueue], 1e-9)

	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, queue(8, 10), nil, 0))
	r = e.Report()
	require.False(t, r.Ready)
	require.Equal(t, VerdictNotReady, r.Verdict)
	require.Len(t, r.Reasons, 1)
	require.Equal(t, SignalQueue, r.Reasons[0].Signal)
	require.Equal(t, "exporter/otlp_http/backend", r.Reasons[0].Component)
	require.Contains(t, r.Reasons[0].Message, "otlp_http/backend sending queue is 80% full (8 of 10)")
	require.Contains(t, r.Actions[0], "scale out")

	// Healthy again: not ready until healthy for the whole recovery period.
	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, queue(0, 10), nil, 0))
	r = e.Report()
	require.False(t, r.Ready)
	require.Equal(t, VerdictRecovering, r.Verdict)
	require.Equal(t, SignalRecovery, r.Reasons[0].Signal)
	require.NotNil(t, r.HealthySince)

	clock.Advance(29 * time.Second)
	require.Equal(t, VerdictRecovering, e.Report().Verdict)
	// A relapse during recovery starts the period over.
	e.Observe(snap(clock, queue(9, 10), nil, 0))
	require.Equal(t, VerdictNotReady, e.Report().Verdict)
	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, queue(1, 10), nil, 0))
	clock.Advance(29 * time.Second)
	require.Equal(t, VerdictRecovering, e.Report().Verdict)
	clock.Advance(time.Second)
	r = e.Report()
	require.True(t, r.Ready)
	require.Empty(t, r.Reasons)
}

func TestSendFailureRatioOverDeltas(t *testing.T) {
	e, clock := newRunning(t)
	// Old failures before the first reading do not count: ratios need two readings.
	e.Observe(snap(clock, map[string]signals.ExporterFigures{"prw": {Sent: 1000, SendFailed: 1000}}, nil, 0))
	require.True(t, e.Report().Ready)

	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, map[string]signals.ExporterFigures{"prw": {Sent: 1960, SendFailed: 1040}}, nil, 0))
	r := e.Report()
	require.True(t, r.Ready, "4%% failures is under 5%%: %+v", r.Reasons)
	require.InDelta(t, 0.04, r.Exporters[0].SendFailureRatio, 1e-9)
	require.InDelta(t, 5, r.IntervalSeconds, 1e-9)

	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, map[string]signals.ExporterFigures{"prw": {Sent: 2860, SendFailed: 1040, EnqueueFailed: 100}}, nil, 0))
	r = e.Report()
	require.False(t, r.Ready)
	require.Equal(t, SignalSendFailure, r.Reasons[0].Signal)
	require.Equal(t, "exporter/prw", r.Reasons[0].Component)
	require.InDelta(t, 0.1, r.Reasons[0].Value, 1e-9)
	require.Contains(t, r.Reasons[0].Message, "0 failed to send, 100 rejected by a full queue, 900 sent")
	require.Contains(t, r.Actions[0], "Fix the destination of exporter prw")
	require.InDelta(t, 100, r.Exporters[0].EnqueueFailed, 1e-9)
}

func TestCounterResetCountsFromZero(t *testing.T) {
	e, clock := newRunning(t)
	e.Observe(snap(clock, map[string]signals.ExporterFigures{"prw": {Sent: 5000}}, nil, 0))
	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, map[string]signals.ExporterFigures{"prw": {Sent: 100, SendFailed: 1}}, nil, 0))
	r := e.Report()
	require.InDelta(t, 100, r.Exporters[0].Sent, 1e-9)
	require.True(t, r.Ready, "1 of 101 is under 5%%")
}

func TestRefusedRatio(t *testing.T) {
	e, clock := newRunning(t)
	rec := func(acc, ref float64) map[string]signals.ReceiverFigures {
		return map[string]signals.ReceiverFigures{"otlp": {Accepted: acc, Refused: ref}}
	}
	e.Observe(snap(clock, nil, rec(0, 0), 0))
	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, nil, rec(995, 5), 0))
	r := e.Report()
	require.True(t, r.Ready, "5 of 1000 refused is 0.5%%, under 1%%")
	require.InDelta(t, 0.005, r.Receivers[0].RefusedRatio, 1e-9)

	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, nil, rec(1975, 25), 0))
	r = e.Report()
	require.False(t, r.Ready, "20 of 1000 refused is 2%%")
	require.Equal(t, SignalRefused, r.Reasons[0].Signal)
	require.Equal(t, "receiver/otlp", r.Reasons[0].Component)
	require.Contains(t, r.Reasons[0].Message, "receiver otlp refused 2.0% of incoming items in the last 5s (20 of 1000)")
	require.InDelta(t, 0.02, r.Utilization[SignalRefused], 1e-9)
}

func TestMemoryAgainstLimit(t *testing.T) {
	e, clock := newRunning(t)
	e.Observe(snap(clock, nil, nil, 950<<20))
	r := e.Report()
	require.True(t, r.Ready, "no limit known: memory is shown, never judged")
	require.Nil(t, r.Memory.Utilization)
	require.NotContains(t, r.Utilization, SignalMemory, "no limit, no utilization")
	require.Equal(t, signals.LimitSourceNone, r.Memory.LimitSource)

	e.SetMemoryLimit(signals.MemoryLimit{Bytes: 1000 << 20, Source: signals.LimitSourceMemoryLimiter, Detail: "memory_limiter limit_mib=1000"})
	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, nil, nil, 950<<20))
	r = e.Report()
	require.False(t, r.Ready)
	require.Equal(t, SignalMemory, r.Reasons[0].Signal)
	require.Contains(t, r.Reasons[0].Message, "resident memory is 95% of the memory_limiter limit (950 MiB of 1000 MiB)")
	require.Contains(t, r.Actions[0], "Provision more memory")
	require.InDelta(t, 0.95, r.Utilization[SignalMemory], 1e-9)
}

func TestComponentStatus(t *testing.T) {
	e, _ := newRunning(t)
	e.ComponentChanged("otlp_http/backend", "exporter", componentstatus.NewRecoverableErrorEvent(errors.New("connection refused")))
	r := e.Report()
	require.True(t, r.Ready, "recoverable errors are shown, not judged: retries handle them")
	require.Equal(t, "RecoverableError", r.Components[0].Status)

	e.ComponentChanged("prw", "exporter", componentstatus.NewPermanentErrorEvent(errors.New("401 unauthorized")))
	r = e.Report()
	require.False(t, r.Ready)
	require.Equal(t, SignalComponent, r.Reasons[0].Signal)
	require.Equal(t, "exporter/prw", r.Reasons[0].Component)
	require.Contains(t, r.Reasons[0].Message, "401 unauthorized")
	require.Len(t, r.Components, 2)
}

func TestFailedReadsKeepThenForgetTheLastVerdict(t *testing.T) {
	e, clock := newRunning(t)
	e.Observe(snap(clock, queue(10, 10), nil, 0))
	require.False(t, e.Report().Ready)
	for i := 1; i < staleReadsBeforeForget; i++ {
		clock.Advance(5 * time.Second)
		e.ReadFailed(errors.New("connection refused"))
		r := e.Report()
		require.False(t, r.Ready, "read %d", i)
		require.Equal(t, "connection refused", r.TelemetryError)
	}
	clock.Advance(5 * time.Second)
	e.ReadFailed(errors.New("connection refused"))
	require.Equal(t, VerdictRecovering, e.Report().Verdict)
}

func TestThresholdZeroDisables(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	e := NewEvaluator(Thresholds{}, 0, clock.Now)
	e.PipelinesReady()
	e.Observe(snap(clock, queue(10, 10), nil, 0))
	require.True(t, e.Report().Ready)
}

// An exporter that publishes its send lag (ordered_rw) and whose destination stopped answering:
// nothing failed yet (retries go on) and its queue is far from full, but it is behind.
func TestSendLagThresholdAndRecovery(t *testing.T) {
	e, clock := newRunning(t)
	lag := func(seconds, sent float64) map[string]signals.ExporterFigures {
		return map[string]signals.ExporterFigures{"ordered_rw": {HasQueue: true, QueueSize: 3, QueueCapacity: 10000, Sent: sent, HasSendLag: true, SendLag: seconds}}
	}
	e.Observe(snap(clock, lag(0.2, 1000), nil, 0))
	r := e.Report()
	require.True(t, r.Ready)
	require.InDelta(t, 0.2/15, r.Utilization[SignalSendLag], 1e-9)
	require.InDelta(t, 0.2, *r.Exporters[0].SendLagSeconds, 1e-9)

	clock.Advance(10 * time.Second)
	e.Observe(snap(clock, lag(10, 1000), nil, 0))
	require.True(t, e.Report().Ready, "10s behind is under 15s")

	clock.Advance(12 * time.Second)
	e.Observe(snap(clock, lag(22.4, 1000), nil, 0))
	r = e.Report()
	require.False(t, r.Ready)
	require.Equal(t, VerdictNotReady, r.Verdict)
	require.Len(t, r.Reasons, 1, "%+v", r.Reasons)
	require.Equal(t, SignalSendLag, r.Reasons[0].Signal)
	require.Equal(t, "exporter/ordered_rw", r.Reasons[0].Component)
	require.InDelta(t, 22.4, r.Reasons[0].Value, 1e-9)
	require.InDelta(t, 15, r.Reasons[0].Threshold, 1e-9)
	require.Equal(t, "exporter ordered_rw is 22s behind: its destination is not keeping up or not answering (the oldest sample due is not delivered after 22s)", r.Reasons[0].Message)
	require.Contains(t, r.Actions[0], "Check the destination of exporter ordered_rw")
	require.InDelta(t, 22.4/15, r.Utilization[SignalSendLag], 1e-9)

	// The destination answers again and the backlog drains: recovery as for every signal.
	clock.Advance(5 * time.Second)
	e.Observe(snap(clock, lag(0, 9000), nil, 0))
	require.Equal(t, VerdictRecovering, e.Report().Verdict)
	clock.Advance(30 * time.Second)
	require.True(t, e.Report().Ready)
}

func TestSendLagAbsentOrDisabled(t *testing.T) {
	e, clock := newRunning(t)
	e.Observe(snap(clock, queue(1, 10), nil, 0))
	r := e.Report()
	require.NotContains(t, r.Utilization, SignalSendLag, "no exporter publishes a lag")
	require.Nil(t, r.Exporters[0].SendLagSeconds)

	off := defaultThresholds
	off.SendLagSeconds = 0
	e = NewEvaluator(off, 0, clock.Now)
	e.PipelinesReady()
	e.Observe(snap(clock, map[string]signals.ExporterFigures{"ordered_rw": {HasSendLag: true, SendLag: 600}}, nil, 0))
	r = e.Report()
	require.True(t, r.Ready, "0 disables the threshold")
	require.InDelta(t, 600, *r.Exporters[0].SendLagSeconds, 1e-9, "still shown")
	require.NotContains(t, r.Utilization, SignalSendLag)
}
