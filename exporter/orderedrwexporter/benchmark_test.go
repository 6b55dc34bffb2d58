package orderedrwexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
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
)

const benchSeries = 100_000

// benchInput is one sample of each of benchSeries series at ts, 100 resources of 1,000 series,
// each resource with attributes that make the translator emit target_info.
func benchInput(ts time.Time) pmetric.Metrics { return benchInputFrom(ts, 0) }

// benchInputFrom is benchInput with series labels numbered from first.
func benchInputFrom(ts time.Time, first int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	const perResource = 1000
	for r := range benchSeries / perResource {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "bench")
		rm.Resource().Attributes().PutStr("service.instance.id", "i"+strconv.Itoa(r))
		rm.Resource().Attributes().PutStr("host.name", "node-"+strconv.Itoa(r))
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("bench_gauge")
		dps := m.SetEmptyGauge().DataPoints()
		dps.EnsureCapacity(perResource)
		for i := range perResource {
			dp := dps.AppendEmpty()
			dp.Attributes().PutStr("series", strconv.Itoa(first+i))
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

// BenchmarkThroughput pushes one sample of each of 100,000 series per op, 1 s apart in sample
// time, through the stock exporter and through ordered_rw, end to end: the time includes the
// shutdown, which drains the queue (stock) or flushes the held samples (ordered_rw). Hold-back
// runs on a clock advanced 1 s per op, so samples are held 5 ops and released by time, as live.
//
//	go test -run '^$' -bench BenchmarkThroughput -benchtime 20x ./exporter/orderedrwexporter/
func BenchmarkThroughput(b *testing.B) {
	b.Run("prometheusremotewrite", func(b *testing.B) {
		url, _ := discardBackend(b)
		factory := prometheusremotewriteexporter.NewFactory()
		cfg := factory.CreateDefaultConfig().(*prometheusremotewriteexporter.Config)
		cfg.HTTP.Endpoint = url
		cfg.ClientConfig.Endpoint = url
		set := exportertest.NewNopSettings(factory.Type())
		exp, err := factory.CreateMetrics(context.Background(), set, cfg)
		require.NoError(b, err)
		runThroughput(b, exp, nil)
	})
	for _, mode := range []string{ModeHoldback, ModeStamp} {
		b.Run("ordered_rw_"+mode, func(b *testing.B) {
			url, _ := discardBackend(b)
			cfg := createDefaultConfig().(*Config)
			cfg.HTTP.Endpoint = url
			cfg.Ordering.Mode = mode
			cfg.Ordering.Stamp.Value = "bench"
			exp, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
			require.NoError(b, err)
			clock := &fakeClock{now: time.UnixMilli(1_000_000)}
			exp.clock = clock
			runThroughput(b, &benchExporter{exp: exp}, clock)
		})
	}
}

// benchExporter adapts ordExporter to exporter.Metrics minus the exporterhelper, and releases
// due samples after each push as the release loop would.
type benchExporter struct {
	exporter.Metrics
	exp *ordExporter
}

func (e *benchExporter) Start(ctx context.Context, host component.Host) error {
	return e.exp.start(ctx, host)
}
func (e *benchExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	err := e.exp.pushMetrics(ctx, md)
	if e.exp.engine.HeldSamples() > 0 {
		e.exp.engine.ReleaseDue()
	}
	return err
}
func (e *benchExporter) Shutdown(ctx context.Context) error { return e.exp.shutdown(ctx) }

func runThroughput(b *testing.B, exp interface {
	Start(context.Context, component.Host) error
	ConsumeMetrics(context.Context, pmetric.Metrics) error
	Shutdown(context.Context) error
}, clock *fakeClock,
) {
	start := time.UnixMilli(1_000_000)
	inputs := make([]pmetric.Metrics, b.N)
	for i := range inputs {
		inputs[i] = benchInput(start.Add(time.Duration(i) * time.Second))
	}
	require.NoError(b, exp.Start(context.Background(), componenttest.NewNopHost()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if clock != nil {
			clock.set(start.Add(time.Duration(i) * time.Second))
		}
		require.NoError(b, exp.ConsumeMetrics(context.Background(), inputs[i]))
	}
	if clock != nil {
		// Past the last release time, so that the shutdown need not wait for the window.
		clock.set(start.Add(time.Duration(b.N)*time.Second + time.Minute))
	}
	require.NoError(b, exp.Shutdown(context.Background()))
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchSeries)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkMemory measures the live heap per held sample (hold-back, 5 s window, 100,000 series
// pushed 5 times within the window) and per tracked series (the last-sent state of 100,000
// series, nothing held).
func BenchmarkMemory(b *testing.B) {
	b.Run("per_held_sample", func(b *testing.B) {
		for range b.N {
			url, _ := discardBackend(b)
			clock := &fakeClock{now: time.UnixMilli(1_000_000)}
			e := newBenchEngine(b, url, true, clock)
			// Measured from before translation: held samples keep their series' labels alive.
			before := liveHeap()
			for i := range 5 {
				in := translateForBench(b, benchInput(time.UnixMilli(1_000_000+int64(i)*1000)))
				require.NoError(b, e.Push(context.Background(), in))
			}
			held := e.HeldSamples()
			after := liveHeap()
			b.ReportMetric((float64(after)-float64(before))/float64(held), "B/held_sample")
			clock.set(time.UnixMilli(1_100_000)) // everything is due: the shutdown need not wait
			require.NoError(b, e.Shutdown(context.Background()))
		}
	})
	b.Run("per_tracked_series", func(b *testing.B) {
		for range b.N {
			url, _ := discardBackend(b)
			e := newBenchEngine(b, url, false, nil)
			// A first push sizes the shards' request buffers; the second, of as many new series,
			// measures what tracking one more series costs.
			require.NoError(b, e.Push(context.Background(), translateForBench(b, benchInput(time.UnixMilli(1_000_000)))))
			require.Eventually(b, e.Idle, 30*time.Second, time.Millisecond)
			before, tracked := liveHeap(), e.TrackedSeries()
			require.NoError(b, e.Push(context.Background(), translateForBench(b, benchInputFrom(time.UnixMilli(1_000_000), benchSeries))))
			require.Eventually(b, e.Idle, 30*time.Second, time.Millisecond)
			after := liveHeap()
			b.ReportMetric((float64(after)-float64(before))/float64(e.TrackedSeries()-tracked), "B/tracked_series")
			require.NoError(b, e.Shutdown(context.Background()))
		}
	})
}

func newBenchEngine(b *testing.B, url string, holdback bool, clock *fakeClock) *ordering.Engine {
	set := ordering.Settings{Shards: 5, QueueSize: 2000, MaxBatchBytes: 3_000_000, Holdback: holdback,
		Window: 5 * time.Second, MaxHeldSamples: 1_000_000}
	if clock != nil {
		set.Clock = clock
	}
	poster := &ordering.HTTPPoster{Client: http.DefaultClient, URL: url, UserAgent: "bench"}
	e, err := ordering.NewEngine(set, componenttest.NewNopTelemetrySettings(), "ordered_rw", poster)
	require.NoError(b, err)
	e.Start()
	return e
}

func translateForBench(b *testing.B, md pmetric.Metrics) []ordering.Series {
	exp, err := newExporter(createDefaultConfig().(*Config), exportertest.NewNopSettings(metadata.Type))
	require.NoError(b, err)
	return exp.translate(md)
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
