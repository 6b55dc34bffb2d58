package seriesguardprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-fleet/otelcol-fleet/internal/memtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
	"github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/guard"
)

// gaugeBatch is one resource with one metric of n gauge points, each with 10 attributes and
// its own series.
func gaugeBatch(n, offset int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	rm.Resource().Attributes().PutStr("service.instance.id", "10.0.0.1:8080")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/example/instrumentation")
	m := sm.Metrics().AppendEmpty()
	m.SetName("http.server.active_requests")
	m.SetUnit("{request}")
	dps := m.SetEmptyGauge().DataPoints()
	dps.EnsureCapacity(n)
	for i := range n {
		dp := dps.AppendEmpty()
		dp.SetDoubleValue(float64(i))
		a := dp.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", "/api/v1/orders/{id}")
		a.PutStr("server.address", "checkout.shop.svc")
		a.PutStr("server.port", "8080")
		a.PutStr("url.scheme", "https")
		a.PutStr("network.protocol.version", "1.1")
		a.PutStr("k8s.pod.name", "checkout-7d9f8b6c5d-x2x9q")
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("cloud.region", "eu-west-1")
		a.PutStr("series", fmt.Sprintf("s%08d", offset+i))
	}
	return md
}

// BenchmarkAdmitted measures the hot path: batches of 1,000 gauge points with 10 attributes
// whose series are all admitted already. With every series admitted the processor leaves the
// batch as it is (checked below), so the same batch is processed again at each iteration:
// no copy, no garbage from the benchmark itself.
func BenchmarkAdmitted(b *testing.B) {
	for _, limits := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"label_limits_only", func(*Config) {}},
		{"series_caps", func(c *Config) {
			c.SeriesLimits.MaxSeries = 1_000_000
			c.SeriesLimits.MaxSeriesPerMetric = 100_000
			c.SeriesLimits.Tenant.Attribute = "k8s.namespace.name"
			c.SeriesLimits.Tenant.MaxSeries = 500_000
		}},
	} {
		b.Run(limits.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			limits.cfg(cfg)
			p := newTestGuard(b, cfg)
			const points = 1000
			batch := gaugeBatch(points, 0)
			// Admit every series once, and check that an admitted batch is left unchanged.
			want := pmetric.NewMetrics()
			batch.CopyTo(want)
			_, err := p.processMetrics(context.Background(), batch)
			require.NoError(b, err)
			_, err = p.processMetrics(context.Background(), batch)
			require.NoError(b, err)
			require.Equal(b, want, batch)

			b.ReportAllocs()
			for b.Loop() {
				out, err := p.processMetrics(context.Background(), batch)
				if err != nil || out.DataPointCount() != points {
					b.Fatalf("kept %d of %d points: %v", out.DataPointCount(), points, err)
				}
			}
			b.ReportMetric(float64(b.N)*points/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// scaleSteps are the tracked-series counts the scale benchmarks sweep, so the cost curve as the
// state grows is visible, not one point.
var scaleSteps = []int{10_000, 100_000, 200_000, 1_000_000}

// BenchmarkMemoryPerSeries measures the live memory of the guard's state per tracked series at
// 10k, 100k and 1M series: after admitting them minus before (memtest.Live: the heap after full
// GCs plus the tables' arrays mapped outside it).
func BenchmarkMemoryPerSeries(b *testing.B) {
	for _, series := range scaleSteps {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			for b.Loop() {
				before := memtest.Live()
				g := guard.New(guard.Limits{MaxSeries: series, Window: DefaultIdleTimeout, MaxTracked: series}, scenarioEpoch)
				for i := range series {
					h := uint64(i)*0x9E3779B97F4A7C15 + 1
					if r := g.Admit(h, 1, "http_server_active_requests", "", 0); r != guard.ReasonNone {
						b.Fatalf("series %d refused: %s", i, r)
					}
				}
				after := memtest.Live()
				b.ReportMetric((float64(after)-float64(before))/float64(series), "bytes/series")
				runtime.KeepAlive(g)
			}
		})
	}
}

// BenchmarkAdmittedAtScale is BenchmarkAdmitted's hot path (1,000-point batches, 10 attributes,
// every series admitted, series caps on) with 10k, 100k, 200k and 1M series tracked: batches are
// taken from across the whole admitted range, so lookups hit a table of that size.
func BenchmarkAdmittedAtScale(b *testing.B) {
	const points, batches = 1000, 8
	for _, series := range scaleSteps {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.SeriesLimits.MaxSeries = series
			cfg.MaxTrackedSeries = series
			p := newTestGuard(b, cfg)
			for range 2 { // admitted, then seen again: the steady state (identities remembered)
				for off := 0; off < series; off += points {
					_, err := p.processMetrics(context.Background(), gaugeBatch(points, off))
					require.NoError(b, err)
				}
			}
			spread := make([]pmetric.Metrics, batches)
			for i := range spread {
				spread[i] = gaugeBatch(points, (series/batches)*i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				out, err := p.processMetrics(context.Background(), spread[i%batches])
				if err != nil || out.DataPointCount() != points {
					b.Fatalf("kept %d of %d points: %v", out.DataPointCount(), points, err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)*points/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points), "ns/point")
		})
	}
}

// BenchmarkRefused measures a cardinality explosion: every point is a series never seen, and the
// cap is full, so every point is checked, refused and counted (action drop_series). Each iteration
// processes a fresh copy of a batch, copied outside the timer.
func BenchmarkRefused(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	cfg.SeriesLimits.MaxSeries = 1000
	p := newTestGuard(b, cfg)
	const points = 1000
	_, err := p.processMetrics(context.Background(), gaugeBatch(points, 0)) // fills the cap
	require.NoError(b, err)
	b.ReportAllocs()
	offset := points
	for b.Loop() {
		b.StopTimer()
		md := gaugeBatch(points, offset)
		offset += points
		b.StartTimer()
		if _, err := p.processMetrics(context.Background(), md); err == nil {
			b.Fatal("a batch of new series got through a full cap")
		}
	}
	b.ReportMetric(float64(b.N)*points/b.Elapsed().Seconds(), "points/s")
}

// pipelineBatch is a batch as the batch processor hands it on in the pipeline benchmark
// (internal/bench): one resource with only service.name, no scope name, one gauge, n points of
// series offset..offset+n-1. attrs is the number of attributes per point: 1 is the bench
// load's shape (series="s<i>"), 10 adds nine attributes shared by all points, as real
// instrumentation does.
func pipelineBatch(n, offset, attrs int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "fleet-bench")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("fleet_bench_samples")
	dps := m.SetEmptyGauge().DataPoints()
	dps.EnsureCapacity(n)
	extra := [...][2]string{
		{"http.request.method", "GET"}, {"http.route", "/api/v1/orders/{id}"},
		{"server.address", "checkout.shop.svc"}, {"server.port", "8080"}, {"url.scheme", "https"},
		{"network.protocol.version", "1.1"}, {"k8s.pod.name", "checkout-7d9f8b6c5d-x2x9q"},
		{"k8s.namespace.name", "shop"}, {"cloud.region", "eu-west-1"},
	}
	for i := range n {
		dp := dps.AppendEmpty()
		dp.SetDoubleValue(float64(i))
		a := dp.Attributes()
		for _, kv := range extra[:min(attrs-1, len(extra))] {
			a.PutStr(kv[0], kv[1])
		}
		a.PutStr("series", fmt.Sprintf("s%d", offset+i))
	}
	return md
}

// evictCaches walks a buffer larger than this machine's last-level cache (32 MiB), so that the
// next batch finds the series table in memory, not in the cache: in the collector, decoding,
// translating and encoding 8,192 points between two batches of series_guard evict it too. Without
// this the benchmark measures a table that stays cached, which the pipeline never sees.
func evictCaches(buf []byte) {
	for i := 0; i < len(buf); i += 64 {
		buf[i]++
	}
}

// BenchmarkPipelineShape is the hot path as the end-to-end pipeline runs it: batches of 8,192
// points (the batch processor's send_batch_size there), 100k series tracked and admitted,
// series caps on, the CPU caches evicted between batches (outside the timer). It reports
// ns/point for the bench load's one attribute and for ten.
func BenchmarkPipelineShape(b *testing.B) {
	const series, points = 100_000, 8192
	evict := make([]byte, 64<<20)
	for _, attrs := range []int{1, 10} {
		b.Run(fmt.Sprintf("attributes=%d", attrs), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.SeriesLimits.MaxSeries = 5_000_000
			p := newTestGuard(b, cfg)
			var batches []pmetric.Metrics
			for off := 0; off < series; off += points {
				md := pipelineBatch(min(points, series-off), off, attrs)
				_, err := p.processMetrics(context.Background(), md)
				require.NoError(b, err)
				batches = append(batches, md)
			}
			for _, md := range batches { // seen again: the steady state (identities remembered)
				_, err := p.processMetrics(context.Background(), md)
				require.NoError(b, err)
			}
			b.ReportAllocs()
			i, total := 0, 0
			for b.Loop() {
				b.StopTimer()
				evictCaches(evict)
				b.StartTimer()
				md := batches[i%len(batches)]
				n := md.DataPointCount()
				out, err := p.processMetrics(context.Background(), md)
				if err != nil || out.DataPointCount() != n {
					b.Fatalf("kept %d of %d points: %v", out.DataPointCount(), n, err)
				}
				total += n
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/point")
		})
	}
}

// BenchmarkChurn is the hot path with series coming and going: batches of 8,192 points (one
// attribute, as the bench load) over a window of series that moves by new_series of a batch
// each time, so that many series are first sightings (admitted, and with this branch their
// identities remembered) and as many expire; the clock advances one second a batch, the idle
// timeout is 5 s and a sweep runs after every batch (timed too: it is the price of churn). Each
// batch is built outside the timer. It reports ns and allocations per point.
func BenchmarkChurn(b *testing.B) {
	const points = 8192
	for _, newShare := range []int{10, 100} {
		b.Run(fmt.Sprintf("new_series=%d%%", newShare), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.SeriesLimits.MaxSeries = 5_000_000
			cfg.SeriesLimits.IdleTimeout = 5 * time.Second
			require.NoError(b, cfg.Validate())
			now := time.Unix(1_700_000_000, 0)
			p, err := newSeriesGuard(processortest.NewNopSettings(processortest.NopType), cfg, func() time.Time { return now })
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, p.shutdown(context.Background())) })
			step := points * newShare / 100
			offset := 0
			batch := func() pmetric.Metrics {
				md := pipelineBatch(points, offset, 1)
				offset += step
				return md
			}
			for range 10 { // reach the steady state: as many series expire as arrive
				_, err = p.processMetrics(context.Background(), batch())
				require.NoError(b, err)
				now = now.Add(time.Second)
				p.sweep()
			}
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				b.StopTimer()
				md := batch()
				b.StartTimer()
				out, err := p.processMetrics(context.Background(), md)
				if err != nil || out.DataPointCount() != points {
					b.Fatalf("kept %d of %d points: %v", out.DataPointCount(), points, err)
				}
				now = now.Add(time.Second)
				p.sweep()
				total += points
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/point")
			b.ReportMetric(float64(p.guard.Active()), "active_series")
		})
	}
}

// BenchmarkMemoryPerActiveSeries is the live memory of the processor's state per active series,
// measured through the processor (identities included, where the branch keeps them): 100k, 200k and
// 1M series of the bench load's shape (one attribute) sent twice in batches of 8,192, after
// minus before (memtest.Live: the heap after full GCs plus the tables' arrays mapped outside
// it), with the batches garbage by then; mapped-B/series is the part outside the Go heap.
func BenchmarkMemoryPerActiveSeries(b *testing.B) {
	const points = 8192
	for _, series := range []int{100_000, 200_000, 1_000_000} {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			for b.Loop() {
				before, mappedBefore := memtest.Live(), offheap.Mapped()
				cfg := createDefaultConfig().(*Config)
				cfg.SeriesLimits.MaxSeries = series
				cfg.MaxTrackedSeries = series
				p := newTestGuard(b, cfg)
				for range 2 { // the steady state: every series seen again (identities remembered)
					for off := 0; off < series; off += points {
						_, err := p.processMetrics(context.Background(), pipelineBatch(min(points, series-off), off, 1))
						require.NoError(b, err)
					}
				}
				after := memtest.Live()
				require.Equal(b, int64(series), p.guard.Active())
				b.ReportMetric((float64(after)-float64(before))/float64(series), "bytes/series")
				b.ReportMetric(float64(offheap.Mapped()-mappedBefore)/float64(series), "mapped-bytes/series")
				runtime.KeepAlive(p)
			}
		})
	}
}
