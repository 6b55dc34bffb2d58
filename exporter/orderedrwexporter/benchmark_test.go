package orderedrwexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/metadata"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/transport"
	"github.com/otelcol-fleet/otelcol-fleet/internal/memtest"
)

// benchSizes are the active series counts the benchmarks sweep, so that the cost curve as the
// state grows is visible.
var benchSizes = []int{10_000, 100_000, 1_000_000}

const (
	// benchBatch is the data points of one push: the batch size of the gateway examples.
	benchBatch = 8192
	// benchPerResource is the series of one resource; every resource has an attribute beyond
	// service name and instance, so the translator emits target_info for it.
	benchPerResource = 1024
	// benchInterval is how often each series has a sample: every series once per pass.
	benchInterval = 10 * time.Second
)

var benchStart = time.UnixMilli(1_000_000_000)

// benchBatchAt is push i of a load that sends every one of numSeries series once per
// benchInterval, in batches of benchBatch: series (i*benchBatch + j) mod numSeries, stamped
// with the time push i is made (arrival without delay), see benchClockAt.
func benchBatchAt(i, numSeries int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(benchClockAt(i, numSeries))
	var dps pmetric.NumberDataPointSlice
	for j := range benchBatch {
		g := (i*benchBatch + j) % numSeries
		if j == 0 || g%benchPerResource == 0 {
			dps = benchResource(md, g/benchPerResource)
		}
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("series", strconv.Itoa(g))
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(float64(i))
	}
	return md
}

// benchResource appends resource r (with an attribute beyond service name and instance, so that
// the translator emits target_info for it) and returns the data points of its gauge.
func benchResource(md pmetric.Metrics, r int) pmetric.NumberDataPointSlice {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "bench")
	rm.Resource().Attributes().PutStr("service.instance.id", "i"+strconv.Itoa(r))
	rm.Resource().Attributes().PutStr("host.name", "node-"+strconv.Itoa(r))
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("bench_gauge")
	return m.SetEmptyGauge().DataPoints()
}

// benchClockAt is the time of push i: a pass over numSeries series takes benchInterval.
func benchClockAt(i, numSeries int) time.Time {
	pushesPerPass := float64(numSeries) / benchBatch
	return benchStart.Add(time.Duration(float64(i) / pushesPerPass * float64(benchInterval)))
}

// benchInput is one sample of each of numSeries series at ts, in one push (used to fill state).
func benchInput(ts time.Time, numSeries int) pmetric.Metrics { return benchInputFrom(ts, 0, numSeries) }

// benchInputFrom is benchInput with series labels numbered from first.
func benchInputFrom(ts time.Time, first, numSeries int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range (numSeries + benchPerResource - 1) / benchPerResource {
		dps := benchResource(md, r)
		n := min(benchPerResource, numSeries-r*benchPerResource)
		dps.EnsureCapacity(n)
		for i := range n {
			dp := dps.AppendEmpty()
			dp.Attributes().PutStr("series", strconv.Itoa(first+r*benchPerResource+i))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			dp.SetDoubleValue(float64(i))
		}
	}
	return md
}

// discardBackend accepts every request, reading its body, and counts the bytes.
func discardBackend(b *testing.B) (string, *atomic.Int64) {
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv.URL + "/api/v1/write", &received
}

// BenchmarkThroughput pushes batches of 8,192 gauge samples through the stock exporter and
// through ordered_rw, as a gateway's batch processor does; every one of the active series has a
// sample every 10 s (one op is one push), after two unmeasured passes over every series. The time
// includes the shutdown, which drains the queue
// (stock) or sends what is still held (ordered_rw), so that both are timed to the last sample
// sent. Hold-back runs as live (its release loop, a 5 s window) on a clock that follows the
// load's own time.
//
//	go test -run '^$' -bench BenchmarkThroughput -benchtime 400x ./exporter/orderedrwexporter/
func BenchmarkThroughput(b *testing.B) {
	for _, numSeries := range benchSizes {
		b.Run("series="+strconv.Itoa(numSeries), func(b *testing.B) {
			b.Run("prometheusremotewrite", func(b *testing.B) {
				url, received := discardBackend(b)
				factory := prometheusremotewriteexporter.NewFactory()
				cfg := factory.CreateDefaultConfig().(*prometheusremotewriteexporter.Config)
				cfg.HTTP.Endpoint = url
				cfg.ClientConfig.Endpoint = url
				set := exportertest.NewNopSettings(factory.Type())
				exp, err := factory.CreateMetrics(context.Background(), set, cfg)
				require.NoError(b, err)
				runThroughput(b, numSeries, received, exp, nil)
			})
			for _, mode := range []string{ModeHoldback, ModeStamp} {
				b.Run("ordered_rw_"+mode, func(b *testing.B) {
					url, received := discardBackend(b)
					cfg := createDefaultConfig().(*Config)
					cfg.HTTP.Endpoint = url
					cfg.Ordering.Mode = mode
					cfg.Ordering.Stamp.Value = "bench"
					// Held at 1M series: 5 s of a pass of 10 s, as the guide sizes it.
					cfg.Ordering.Holdback.MaxHeldSamples = max(defaultMaxHeldSamples, numSeries)
					exp, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
					require.NoError(b, err)
					clock := &fakeClock{now: benchStart}
					exp.clock = clock
					runThroughput(b, numSeries, received, &benchExporter{exp: exp}, clock)
				})
			}
		})
	}
}

// benchExporter adapts ordExporter to exporter.Metrics without the exporterhelper around it.
type benchExporter struct {
	exporter.Metrics
	exp *ordExporter
}

func (e *benchExporter) Start(ctx context.Context, host component.Host) error {
	return e.exp.start(ctx, host)
}
func (e *benchExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return e.exp.pushMetrics(ctx, md)
}
func (e *benchExporter) Shutdown(ctx context.Context) error { return e.exp.shutdown(ctx) }

// waitQuiet returns once the backend has received nothing new for 200 ms.
func waitQuiet(received *atomic.Int64) {
	last, quiet := received.Load(), 0
	for quiet < 4 {
		time.Sleep(50 * time.Millisecond)
		if n := received.Load(); n != last {
			last, quiet = n, 0
		} else {
			quiet++
		}
	}
}

func runThroughput(b *testing.B, numSeries int, received *atomic.Int64, exp interface {
	Start(context.Context, component.Host) error
	ConsumeMetrics(context.Context, pmetric.Metrics) error
	Shutdown(context.Context) error
}, clock *fakeClock,
) {
	// Two whole passes before the timer, so that every series is known (a gateway's series live
	// for hours; creating their state is not the steady state: ordered_rw's encoder caches a
	// series' labels when it sees it the second time) and ordered_rw holds a window's worth of
	// samples, as it does live. The stock exporter gets the same passes.
	warmup := 2 * ((numSeries + benchBatch - 1) / benchBatch)
	inputs := make([]pmetric.Metrics, b.N)
	for i := range inputs {
		inputs[i] = benchBatchAt(warmup+i, numSeries)
	}
	require.NoError(b, exp.Start(context.Background(), componenttest.NewNopHost()))
	for i := range warmup {
		if clock != nil {
			clock.set(benchClockAt(i, numSeries))
		}
		require.NoError(b, exp.ConsumeMetrics(context.Background(), benchBatchAt(i, numSeries)))
	}
	// What the pass sent must be on the wire before the timer starts, or its sending would
	// count against the measured pushes (the stock exporter's queue sends asynchronously).
	waitQuiet(received)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpuBefore := processCPU(b)
	for i := range b.N {
		if clock != nil {
			clock.set(benchClockAt(warmup+i, numSeries))
		}
		require.NoError(b, exp.ConsumeMetrics(context.Background(), inputs[i]))
		// Not kept alive by the benchmark once pushed: hundreds of batches of input would
		// otherwise be scanned by every GC cycle, a cost no live collector has.
		inputs[i] = pmetric.Metrics{}
	}
	if clock != nil {
		// Past the last release time, so that the shutdown need not wait for the window.
		clock.set(benchClockAt(warmup+b.N, numSeries).Add(time.Minute))
	}
	// How long the shutdown took, of the measured time: the stock exporter's pushes return once
	// queued, so most of its sending happens here.
	shutdownStart := time.Now()
	require.NoError(b, exp.Shutdown(context.Background()))
	b.StopTimer()
	b.ReportMetric(float64(time.Since(shutdownStart).Milliseconds()), "shutdown-ms")
	cpu := processCPU(b) - cpuBefore
	samples := float64(b.N * benchBatch)
	b.ReportMetric(samples/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/samples, "ns/sample")
	// CPU time of the whole process (every goroutine, the GC, the test backend) per sample:
	// unlike the wall-clock figures, it does not depend on how much of the shared machine
	// the benchmark got.
	b.ReportMetric(float64(cpu.Nanoseconds())/samples, "cpu-ns/sample")
}

// processCPU is the user and system CPU time this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMemory measures the live memory (memtest.Live: heap and mapped) per held sample
// (hold-back, 5 s window, every series
// pushed 5 times within the window, so a series' labels are shared by 5 held samples; and, as
// steady, what holding adds once the encoder caches the labels) and per
// tracked series (the last-sent state of as many new series, nothing held), and per active
// series with hold-back once their samples were released, at 10k, 100k and 1M series.
//
//	go test -run '^$' -bench BenchmarkMemory ./exporter/orderedrwexporter/
func BenchmarkMemory(b *testing.B) {
	for _, numSeries := range benchSizes {
		b.Run("per_held_sample/series="+strconv.Itoa(numSeries), func(b *testing.B) {
			for range b.N {
				url, _ := discardBackend(b)
				clock := &fakeClock{now: benchStart}
				e := newBenchEngine(b, url, true, clock)
				// Measured from before translation: held samples keep their series' labels alive.
				before := memtest.Live()
				for i := range 5 {
					in := translateForBench(b, benchInput(benchStart.Add(time.Duration(i)*time.Second), numSeries))
					require.NoError(b, e.Push(context.Background(), in))
				}
				held := e.HeldSamples()
				after := memtest.Live()
				b.ReportMetric((float64(after)-float64(before))/float64(held), "B/held_sample")
				clock.set(benchStart.Add(time.Hour)) // everything is due: the shutdown need not wait
				require.NoError(b, e.Shutdown(context.Background()))
			}
		})
	}
	for _, numSeries := range benchSizes {
		b.Run("per_held_sample_steady/series="+strconv.Itoa(numSeries), func(b *testing.B) {
			for range b.N {
				url, _ := discardBackend(b)
				clock := &fakeClock{now: benchStart}
				e := newBenchEngine(b, url, true, clock)
				// As per_held_sample, but through one exporter, whose encoder caches the series'
				// labels from their second push, as in a running collector; every series is
				// pushed 8 times, 0.5 s apart, so that it is held without a pause (8M held at 1M
				// series: below the bound, nothing released early). Measured from before the
				// first push, so it includes the encoder's cache of each series (its labels block
				// and tables) over the 8 samples the series holds.
				exp, err := newExporter(createDefaultConfig().(*Config), exportertest.NewNopSettings(metadata.Type))
				require.NoError(b, err)
				before := memtest.Live()
				for i := range 8 {
					ts := benchStart.Add(time.Duration(i) * 500 * time.Millisecond)
					series := exp.translate(benchInput(ts, numSeries))
					require.NoError(b, e.Push(context.Background(), series))
					exp.encoder.Recycle(series) // as the exporter does
				}
				held := e.HeldSamples()
				after := memtest.Live()
				b.ReportMetric((float64(after)-float64(before))/float64(held), "B/held_sample")
				clock.set(benchStart.Add(time.Hour)) // everything is due: the shutdown need not wait
				require.NoError(b, e.Shutdown(context.Background()))
				// Until the shutdown sent what was held: the encoder's cached label blocks are
				// mapped while it lives (encode's arena), and this engine does not hold it.
				runtime.KeepAlive(exp)
			}
		})
	}
	for _, numSeries := range benchSizes {
		b.Run("per_tracked_series/series="+strconv.Itoa(numSeries), func(b *testing.B) {
			for range b.N {
				url, _ := discardBackend(b)
				e := newBenchEngine(b, url, false, nil)
				// A first push sizes the shards' request buffers; the second, of as many new
				// series, measures what tracking them costs.
				require.NoError(b, e.Push(context.Background(), translateForBench(b, benchInput(benchStart, numSeries))))
				require.Eventually(b, e.Idle, 30*time.Second, time.Millisecond)
				before, tracked := memtest.Live(), e.TrackedSeries()
				require.NoError(b, e.Push(context.Background(), translateForBench(b, benchInputFrom(benchStart, numSeries, numSeries))))
				require.Eventually(b, e.Idle, 30*time.Second, time.Millisecond)
				after := memtest.Live()
				b.ReportMetric((float64(after)-float64(before))/float64(e.TrackedSeries()-tracked), "B/tracked_series")
				require.NoError(b, e.Shutdown(context.Background()))
			}
		})
	}
	for _, numSeries := range benchSizes {
		b.Run("per_active_series_holdback/series="+strconv.Itoa(numSeries), func(b *testing.B) {
			for range b.N {
				url, _ := discardBackend(b)
				clock := &fakeClock{now: benchStart}
				e := newBenchEngine(b, url, true, clock)
				// As per_tracked_series, with hold-back: what a series costs once its samples
				// were released (the hold-back's ref, kept while the series is active, and the
				// shard's last-sent state).
				drained := func(first int) {
					require.NoError(b, e.Push(context.Background(), translateForBench(b, benchInputFrom(clock.Now(), first, numSeries))))
					clock.set(clock.Now().Add(time.Minute))
					e.ReleaseDue()
					require.Eventually(b, e.Idle, 30*time.Second, time.Millisecond)
				}
				drained(0)
				before := memtest.Live()
				drained(numSeries)
				after := memtest.Live()
				b.ReportMetric((float64(after)-float64(before))/float64(numSeries), "B/active_series")
				require.NoError(b, e.Shutdown(context.Background()))
			}
		})
	}
}

func newBenchEngine(b *testing.B, url string, holdback bool, clock *fakeClock) *ordering.Engine {
	set := ordering.Settings{MinShards: 5, MaxShards: 5, QueueSize: 5 * 2000, MaxBatchBytes: 3_000_000, Holdback: holdback,
		Window: 5 * time.Second, MaxHeldSamples: 10_000_000}
	if clock != nil {
		set.Clock = clock
	}
	poster := &transport.HTTPPoster{Client: http.DefaultClient, URL: url, UserAgent: "bench"}
	e, err := ordering.NewEngine(set, componenttest.NewNopTelemetrySettings(), "ordered_rw", poster)
	require.NoError(b, err)
	e.Start()
	return e
}

// translateForBench returns md's series for an engine benchmarked alone: their labels copied to
// the heap, so that they are the caller's. The throwaway exporter's encoder caches series it
// has no room to remember as seen once (over a million in a push) in its arena outside the
// heap, which its cleanup unmaps once the encoder is unreachable: the engine, given no
// Settings.Epochs, would read them after that.
func translateForBench(b *testing.B, md pmetric.Metrics) []sample.Series {
	exp, err := newExporter(createDefaultConfig().(*Config), exportertest.NewNopSettings(metadata.Type))
	require.NoError(b, err)
	series := exp.translate(md)
	for i := range series {
		series[i].Labels = sample.Labels(strings.Clone(string(series[i].Labels)))
	}
	runtime.KeepAlive(exp) // until the labels are copied
	return series
}
